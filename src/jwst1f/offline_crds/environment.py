"""Environment for running jwst against a CRDS server or a local (synthetic) cache.

jwst asks CRDS for reference files.  When neither a server nor a usable cache is configured,
CRDS logs a FATAL error and calls ``sys.exit``, which no caller can catch.
:func:`check_crds_configured` performs the same check first and raises
:class:`CRDSNotConfiguredError`, whose message says exactly what to set.

Real data: ``CRDS_SERVER_URL=https://jwst-crds.stsci.edu`` and ``CRDS_PATH=<a writable
directory>``.  Demo and tests: ``jwst1f offline-crds PATH``, then the variables from
:func:`crds_environment` with ``CRDS_SERVER_URL`` unset.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "CRDSNotConfiguredError",
    "JWST_CRDS_SERVER",
    "UNSET_VARIABLES",
    "check_crds_configured",
    "crds_environment",
    "offline_environ",
    "find_context",
]

#: The public JWST CRDS server.
JWST_CRDS_SERVER = "https://jwst-crds.stsci.edu"
#: Variables that must be absent for the offline cache to be used.
UNSET_VARIABLES: tuple[str, ...] = ("CRDS_SERVER_URL",)
_DEFAULT_CACHE = Path("~/crds_cache")


class CRDSNotConfiguredError(RuntimeError):
    """Neither a CRDS server nor a usable local CRDS cache is configured."""


def crds_environment(path: str | os.PathLike[str], *, readonly: bool = True) -> dict[str, str]:
    """Environment variables that make jwst use the local cache at ``path``.

    ``CRDS_SERVER_URL`` must additionally be *unset* (see `UNSET_VARIABLES` and
    :func:`offline_environ`); an empty value is not the same as unset for CRDS.

    Parameters
    ----------
    path : path-like
        The cache directory built by :func:`jwst1f.offline_crds.build_cache`.
    readonly : bool
        Add ``CRDS_READONLY_CACHE=1`` so that parallel jobs never write into the cache.

    Returns
    -------
    dict of str to str
        ``CRDS_PATH``, ``CRDS_CONTEXT``, ``STPIPE_DISABLE_CRDS_STEPPARS=true`` and, if
        ``readonly``, ``CRDS_READONLY_CACHE=1``.
    """
    root = Path(path).expanduser().resolve()
    env = {
        "CRDS_PATH": str(root),
        "STPIPE_DISABLE_CRDS_STEPPARS": "true",
    }
    context = find_context(root)
    if context is not None:
        env["CRDS_CONTEXT"] = context
    if readonly:
        env["CRDS_READONLY_CACHE"] = "1"
    return env


def offline_environ(
    path: str | os.PathLike[str], base: Mapping[str, str] | None = None, *, readonly: bool = True
) -> dict[str, str]:
    """A complete environment (for ``subprocess``) that runs jwst offline on ``path``.

    Parameters
    ----------
    path : path-like
        The cache directory.
    base : mapping, optional
        Environment to start from; default ``os.environ``.
    readonly : bool
        See :func:`crds_environment`.

    Returns
    -------
    dict of str to str
        ``base`` with `UNSET_VARIABLES` removed and :func:`crds_environment` applied.
    """
    env = dict(os.environ if base is None else base)
    for name in UNSET_VARIABLES:
        env.pop(name, None)
    env.update(crds_environment(path, readonly=readonly))
    return env


def find_context(root: str | os.PathLike[str]) -> str | None:
    """Name of the pipeline mapping (``*.pmap``) of the cache at ``root``, or None.

    The context named in ``config/jwst/server_config`` wins; otherwise the newest pmap.
    """
    root = Path(root).expanduser()
    mapdir = root / "mappings" / "jwst"
    config = root / "config" / "jwst" / "server_config"
    if config.is_file():
        import ast  # noqa: PLC0415

        try:
            info = ast.literal_eval(config.read_text())
            name = info.get("operational_context")
        except (ValueError, SyntaxError, AttributeError):
            name = None
        if name and (mapdir / name).is_file():
            return str(name)
    pmaps = sorted(mapdir.glob("jwst_*.pmap")) if mapdir.is_dir() else []
    return pmaps[-1].name if pmaps else None


def _message(problem: str) -> str:
    return (
        f"CRDS is not configured: {problem}\n"
        "jwst needs CRDS reference files; without a server or a local cache CRDS would end "
        "the process.  Set one of:\n"
        f"  * real data:  export CRDS_SERVER_URL={JWST_CRDS_SERVER}\n"
        "                export CRDS_PATH=$HOME/crds_cache   (a writable directory)\n"
        "  * offline demo/tests (synthetic references, simulated data only):\n"
        "                jwst1f offline-crds /path/to/cache\n"
        "                export CRDS_PATH=/path/to/cache\n"
        "                unset CRDS_SERVER_URL\n"
        "                export STPIPE_DISABLE_CRDS_STEPPARS=true"
    )


def check_crds_configured(env: Mapping[str, str] | None = None) -> None:
    """Raise :class:`CRDSNotConfiguredError` unless jwst can get reference files.

    Configured means: ``CRDS_SERVER_URL`` is an ``http(s)`` URL (real CRDS server; the cache
    at ``CRDS_PATH`` or ``~/crds_cache`` is filled on demand), or it is unset and the cache at
    ``CRDS_PATH`` (default ``~/crds_cache``) holds ``config/jwst/server_config`` and the
    pipeline mapping named by ``CRDS_CONTEXT`` (or any ``*.pmap``).

    Parameters
    ----------
    env : mapping, optional
        Environment to check; default ``os.environ``.

    Raises
    ------
    CRDSNotConfiguredError
        With a message saying what is missing and exactly what to set.
    """
    env = os.environ if env is None else env
    url = env.get("CRDS_SERVER_URL")
    if url is not None:
        if url.startswith(("http://", "https://")):
            return
        raise CRDSNotConfiguredError(
            _message(f"CRDS_SERVER_URL={url!r} is not an http(s) URL (unset it for a local cache)")
        )
    if env.get("CRDS_PATH"):
        root = Path(env["CRDS_PATH"]).expanduser()
        where = f"CRDS_PATH={env['CRDS_PATH']}"
    else:
        home = env.get("HOME")
        root = Path(home) / "crds_cache" if home else _DEFAULT_CACHE.expanduser()
        where = f"CRDS_SERVER_URL and CRDS_PATH are unset (default cache {root})"
    mapdir = Path(env["CRDS_MAPPATH"]).expanduser() / "jwst" if env.get("CRDS_MAPPATH") else None
    mapdir = mapdir or root / "mappings" / "jwst"
    if not root.is_dir():
        raise CRDSNotConfiguredError(_message(f"{where}: the directory does not exist"))
    config = root / "config" / "jwst" / "server_config"
    if not config.is_file():
        raise CRDSNotConfiguredError(_message(f"{where}: no {config.relative_to(root)} in it"))
    context = env.get("CRDS_CONTEXT")
    if context:
        if not (mapdir / context).is_file():
            raise CRDSNotConfiguredError(
                _message(f"{where}: CRDS_CONTEXT={context} but {mapdir / context} is missing")
            )
        return
    if not any(mapdir.glob("*.pmap")):
        raise CRDSNotConfiguredError(_message(f"{where}: no pipeline mapping (*.pmap) in {mapdir}"))
