"""jwst1f: a reproducible JWST reduction workflow and an amplifier-aware 1/f destriper.

The one-line use from a reduction script::

    import jwst1f
    written = jwst1f.destripe_files(sorted(glob("*_rate.fits")), "output_files")
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jwst1f")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+unknown"

__all__ = ["__version__", "destripe_files", "destripe_file"]


def __getattr__(name: str):
    # Lazy so that `import jwst1f` stays cheap (no jwst / astropy import).
    if name in ("destripe_files", "destripe_file"):
        from jwst1f import io

        return getattr(io, name)
    raise AttributeError(f"module 'jwst1f' has no attribute {name!r}")
