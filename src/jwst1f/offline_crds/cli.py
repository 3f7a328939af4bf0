"""``jwst1f offline-crds``: build a local CRDS cache of synthetic reference files."""

from __future__ import annotations

import argparse
import logging
import sys
import time

__all__ = ["build_parser", "cli_main"]

log = logging.getLogger("jwst1f.offline_crds")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jwst1f offline-crds``."""
    from jwst1f.offline_crds.detectors import KNOWN_DETECTORS

    parser = argparse.ArgumentParser(
        prog="jwst1f offline-crds",
        description=(
            "Build (or update) a local CRDS cache of synthetic JWST reference files that "
            "matches the jwst1f simulator, so that the unmodified jwst pipelines run offline "
            "on simulated data.  For real data use the real CRDS server instead "
            "(CRDS_SERVER_URL=https://jwst-crds.stsci.edu)."
        ),
        epilog=(
            "Then run jwst with: export CRDS_PATH=PATH; unset CRDS_SERVER_URL; "
            "export STPIPE_DISABLE_CRDS_STEPPARS=true.  "
            f"Detectors: {' '.join(KNOWN_DETECTORS)} (or NIRCAM, NIRSPEC, ALL)."
        ),
    )
    parser.add_argument("path", help="cache directory (becomes CRDS_PATH); created if missing")
    parser.add_argument(
        "--detectors",
        nargs="+",
        metavar="DET",
        help="detectors to build (default: NRCA1 NRCALONG NIS MIRIMAGE NRS1)",
    )
    parser.add_argument(
        "--filters",
        nargs="+",
        metavar="FILTER",
        help="imaging filters to build flats for, e.g. F200W F444W or F150W2+F162M "
        "(default: two per detector family)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rewrite every file even if it is up to date"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument(
        "--print-env",
        action="store_true",
        help="print the shell commands that select the cache after building",
    )
    return parser


def cli_main(argv: list[str] | None = None) -> int:
    """Run ``jwst1f offline-crds``; returns the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from jwst1f.offline_crds import build_cache, crds_environment

    t0 = time.monotonic()
    try:
        root = build_cache(
            args.path,
            detectors=args.detectors,
            filters=args.filters,
            force=args.force,
            progress=not args.no_progress and not args.quiet,
        )
    except ValueError as exc:
        print(f"jwst1f offline-crds: error: {exc}", file=sys.stderr)
        return 2
    size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    log.info("cache size %.0f MB, built in %.1f s", size / 1e6, time.monotonic() - t0)
    if args.print_env:
        for key, value in crds_environment(root).items():
            print(f"export {key}={value}")
        print("unset CRDS_SERVER_URL")
    return 0
