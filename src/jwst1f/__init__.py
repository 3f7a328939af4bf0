"""jwst1f: a reproducible JWST reduction workflow and an amplifier-aware 1/f destriper."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jwst1f")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
