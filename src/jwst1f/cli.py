"""The ``jwst1f`` command line: ``jwst1f <command> [options]``.

Each command lives in the module that owns it and exposes ``cli_main(argv) -> int``;
this dispatcher imports only the module that is asked for, so ``jwst1f --help`` is fast.
"""

from __future__ import annotations

import importlib
import sys

__all__ = ["main", "COMMANDS"]

#: command name -> (module path, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": (
        "jwst1f.simulate.cli",
        "write simulated JWST uncal/rate/rateints files with truth",
    ),
    "offline-crds": (
        "jwst1f.offline_crds.cli",
        "build a local CRDS cache of synthetic reference files",
    ),
    "destripe": ("jwst1f.io", "remove 1/f stripes from rate/rateints files"),
}


def _usage() -> str:
    lines = ["usage: jwst1f <command> [options]", "", "commands:"]
    width = max(len(name) for name in COMMANDS)
    for name, (_, summary) in COMMANDS.items():
        lines.append(f"  {name:<{width}}  {summary}")
    lines += ["", "Run 'jwst1f <command> --help' for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the ``jwst1f`` command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name; ``sys.argv[1:]`` when omitted.

    Returns
    -------
    int
        Process exit status (0 on success).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from jwst1f import __version__

        print(f"jwst1f {__version__}")
        return 0
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"jwst1f: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.cli_main(rest) or 0)
