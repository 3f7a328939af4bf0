"""Stress cases: frames harder than the independent generator's defaults, in ways users meet.

Each case perturbs a variant of :mod:`benchmarks.independent` (its ``extra`` keys, see
:class:`benchmarks.independent.Variant`):

- **crowded fields**: ten and forty times the stars (3000 and 12000 per full frame, each with
  power-law wings), where the truly empty pixels the oracle uses become few;
- **unflagged outliers**: 0.2 % and 2 % of the pixels warm, hot or negative and not flagged in
  DQ (new hot pixels, residuals of cosmic rays the jump step missed), each a single pixel
  with no wings; the oracle knows them;
- **large NaN regions**: a block of one output over 400 lines, a band of 100 columns across
  every line, a box over the IFU slices (pixels dropped as ``DO_NOT_USE``).

Every case runs next to its unperturbed variant, with jwst1f, the user's seed routine and
CleanFlickerNoiseStep, judged as the independent cases are
(:func:`benchmarks.independent.run_independent`; seeds 0 and 1 by default).

Usage::

    python -m benchmarks.stress --write benchmarks/STRESS.md
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_destripe import _machine, _versions
from benchmarks.independent import (
    BY_NAME,
    METHOD_HEADER,
    Variant,
    cell,
    command_line,
    method_cells,
    note_lines,
    run_independent,
    write_report,
)

log = logging.getLogger("benchmarks.stress")


def _stress(base: str, label: str, **extra: Any) -> tuple[str, Variant]:
    """A perturbed copy of the variant ``base``: (base name, variant named "<base> <label>")."""
    v = BY_NAME[base]
    return base, dataclasses.replace(v, name=f"{base} {label}", extra=v.extra | extra)


#: (base variant, perturbed variant) pairs.
CASES: tuple[tuple[str, Variant], ...] = (
    _stress("nircam_pink", "crowded x10", crowding=10.0),
    _stress("nircam_pink", "crowded x40", crowding=40.0),
    _stress("niriss_pink", "crowded x40", crowding=40.0),
    _stress("nircam_pink", "outliers 0.2 %", outliers=0.002),
    _stress("nircam_pink", "outliers 2 %", outliers=0.02),
    _stress("nircam_no_refpix_step", "outliers 0.2 %", outliers=0.002),
    _stress("nircam_no_refpix_step", "outliers 2 %", outliers=0.02),
    _stress("nirspec_ifu_slices", "outliers 0.2 %", outliers=0.002),
    _stress("nircam_strip_1out_trace", "outliers 0.2 %", outliers=0.002),
    _stress("nircam_strip_1out_trace", "outliers 2 %", outliers=0.02),
    _stress("nircam_pink", "NaN block of one output", nan_box=(0.39, 0.59, 0.25, 0.5)),
    _stress("nircam_pink", "NaN band across the lines", nan_box=(0.0, 1.0, 0.488, 0.537)),
    _stress("nirspec_ifu_slices", "NaN box", nan_box=(0.4, 0.6, 0.2, 0.5)),
)


def run_stress(
    cases: tuple[tuple[str, Variant], ...] = CASES, seeds: tuple[int, ...] = (0, 1), *, cfn=True
) -> dict[str, dict[str, Any]]:
    """Run every method on the cases and on their unperturbed variants.

    Parameters
    ----------
    cases : tuple of (str, Variant)
        (base variant name, perturbed variant) pairs, as :data:`CASES`.
    seeds : tuple of int
        Seeds (:func:`benchmarks.independent.run_independent`).
    cfn : bool
        Also run CleanFlickerNoiseStep.

    Returns
    -------
    dict
        As :func:`benchmarks.independent.run_independent`, one entry per perturbed case and
        per base variant (means over the seeds).
    """
    bases = tuple(BY_NAME[b] for b in dict.fromkeys(b for b, _ in cases))
    pool = bases + tuple(v for _, v in cases)
    out = run_independent(list(seeds), cfn=cfn, pool=pool)
    for name, rows in out.items():
        log.info("%s: %.2f x oracle", name, rows["jwst1f"]["x_oracle"])
    return out


def markdown(
    results: dict[str, dict[str, Any]],
    cases: tuple[tuple[str, Variant], ...],
    seeds: tuple[int, ...],
    command: str,
) -> list[str]:
    """The stress table: one row per case, with its unperturbed variant's numbers."""
    lines = [
        "# Stress cases",
        "",
        "Perturbations of the independent generator's variants (`benchmarks/stress.py`: "
        "crowded fields, unflagged single-pixel outliers, large NaN regions), each next to "
        "its unperturbed variant from the same run. Stripe rms × the oracle's (whose perfect "
        "mask knows the stars and outliers; in a crowded field its truly empty pixels are "
        "few, so a method that measures on the stars' faint outskirts can go below 1), flux "
        "bias in % of the source flux (the oracle's in brackets), CPU seconds per frame, "
        f"means over seeds {', '.join(map(str, seeds))}.",
        "",
        f"Command: `{command}`",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {_machine()}",
        "- software: " + ", ".join(f"{k} {v}" for k, v in _versions().items()),
        "",
        f"| case | unperturbed jwst1f | {METHOD_HEADER}",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for base, v in cases:
        unperturbed = cell(results[base], "jwst1f", "x_oracle", ".2f")
        lines.append(f"| {v.name} | {unperturbed} | {method_cells(results[v.name])}")
    return lines + note_lines(results) + [""]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.stress [--seeds 0,1] [--only TEXT] [--no-cfn] [--write FILE]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1", help="comma-separated seeds (default 0,1)")
    ap.add_argument("--only", help="only the cases whose name contains this text")
    ap.add_argument("--no-cfn", action="store_true", help="skip CleanFlickerNoiseStep")
    ap.add_argument("--write", type=Path, help="write the Markdown here (default: stdout)")
    args = ap.parse_args(argv)
    try:
        seeds = tuple(int(s) for s in args.seeds.split(","))
    except ValueError:
        ap.error(f"--seeds must be comma-separated integers, not {args.seeds!r}")
    cases = tuple(c for c in CASES if args.only is None or args.only in c[1].name)
    if not cases:
        ap.error(f"no case name contains {args.only!r}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    res = run_stress(cases, seeds, cfn=not args.no_cfn)
    command = command_line("benchmarks.stress", argv)
    write_report(markdown(res, cases, seeds, command), args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
