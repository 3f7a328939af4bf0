"""A random sweep of the independent generator's noise: how jwst1f holds up off its defaults.

The independent benchmark (:mod:`benchmarks.independent`) runs each variant at one noise
setting. A user's detector, or a judge's generator, differs: this sweep draws, per frame, one
of ten scenes (:data:`POOL`) and, at random, the 1/f's spectral index (uniform 0.6-1.8), its
shared amplitude (log-uniform 0.01-0.2 DN/s), each output's own amplitude (log-uniform
0.003-0.1 DN/s), the pause after each line (0-39 pixel clocks) and whether the pipeline's
reference-pixel step ran (70 %; MIRI keeps its defaults). Every frame is corrected by jwst1f,
the user's seed routine and CleanFlickerNoiseStep, and judged as the independent cases are
(:func:`benchmarks.independent.run_independent`).

Frame ``i`` draws its settings from ``numpy.random.default_rng(500 + i)`` and its pixels from
``numpy.random.default_rng(20_000 + i)``: a frame is the same whatever the number of frames.

Usage::

    python -m benchmarks.sweep --frames 120 --write benchmarks/SWEEP.md
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_destripe import _machine, _versions
from benchmarks.independent import (
    BY_NAME,
    METHOD_HEADER,
    Variant,
    command_line,
    method_cells,
    note_lines,
    run_independent,
    write_report,
)

log = logging.getLogger("benchmarks.sweep")

#: The scenes drawn from, in turn (frame ``i`` takes ``POOL[i % len(POOL)]``).
POOL = (
    "nircam_pink",
    "niriss_pink",
    "nirspec_traces",
    "nirspec_ifu_slices",
    "nircam_emission_band",
    "nircam_wfss_traces",
    "nircam_sub640_1out",
    "nircam_subgrism256_4out_trace",
    "miri_imaging_dark_left",
    "nircam_diffuse_blob",
)

#: A frame is listed as a failure above this multiple of the oracle's stripe rms...
X_LIMIT = 1.25
#: ... or with its flux bias this far (percentage points) from the oracle's.
BIAS_LIMIT = 1.0


def sweep_variant(i: int, pool: tuple[str, ...] = POOL) -> Variant:
    """The variant of sweep frame ``i``: a scene of ``pool`` with random noise settings.

    Parameters
    ----------
    i : int
        Frame index (>= 0).
    pool : tuple of str
        Names of variants of :data:`benchmarks.independent.VARIANTS` or ``SUBARRAYS``.

    Returns
    -------
    Variant
        Named ``"<i> <scene>"``; its settings in :func:`settings`.
    """
    base = BY_NAME[pool[i % len(pool)]]
    r = np.random.default_rng(500 + i)
    kw: dict[str, Any] = dict(
        alpha=float(r.uniform(0.6, 1.8)),
        amp_common=float(10 ** r.uniform(-2, -0.7)),
        amp_output=float(10 ** r.uniform(-2.5, -1)),
        pause=int(r.integers(0, 40)),
        refpix_step=bool(r.random() < 0.7),
    )
    if base.exp_type.startswith("MIR"):  # (the imager's banding model keeps its defaults)
        kw = dict(refpix_step=False)
    return dataclasses.replace(base, name=f"{i:02d} {base.name}", **kw)


def settings(v: Variant) -> str:
    """The noise settings of a variant, short: index, amplitudes (DN/s), pause, step."""
    step = "step" if v.refpix_step else "no step"
    text = (
        f"α {v.alpha:.2f}, shared {v.amp_common:.3f}, own {v.amp_output:.3f}, "
        f"pause {v.pause}, {step}"
    )
    return text + " (MIRI: the defaults)" if v.exp_type.startswith("MIR") else text


def run_sweep(
    frames: range, *, cfn: bool = True, pool: tuple[str, ...] = POOL
) -> dict[str, dict[str, Any]]:
    """Run every method on the sweep frames.

    Parameters
    ----------
    frames : range
        Frame indices.
    cfn : bool
        Also run CleanFlickerNoiseStep.
    pool : tuple of str
        Scenes (see :func:`sweep_variant`).

    Returns
    -------
    dict
        As :func:`benchmarks.independent.run_independent`, one entry per frame, each with
        ``"_settings"`` too.
    """
    out: dict[str, dict[str, Any]] = {}
    for i in frames:
        v = sweep_variant(i, pool)
        # (seed 10_000 + i: the generator of frame i is default_rng(20_000 + i))
        res = run_independent([10_000 + i], cfn=cfn, pool=(v,))
        res[v.name]["_settings"] = settings(v)
        out.update(res)
        j = res[v.name]["jwst1f"]
        log.info(
            "sweep frame %s: %.2f x oracle, bias %+.2f %%", v.name, j["x_oracle"], j["bias_pct"]
        )
    return out


def failures(results: dict[str, dict[str, Any]]) -> list[str]:
    """Frames where jwst1f is above :data:`X_LIMIT` x oracle or :data:`BIAS_LIMIT` off its
    bias."""
    bad = []
    for name, rows in results.items():
        j, o = rows["jwst1f"], rows["oracle"]
        if j["x_oracle"] > X_LIMIT or abs(j["bias_pct"] - o["bias_pct"]) > BIAS_LIMIT:
            bad.append(name)
    return bad


def markdown(results: dict[str, dict[str, Any]], command: str) -> list[str]:
    """The sweep's Markdown: a summary, then one row per frame."""

    x = np.array([rows["jwst1f"]["x_oracle"] for rows in results.values()])
    x_cfn = np.array([rows.get("cfn", {}).get("x_oracle", np.nan) for rows in results.values()])
    both = np.isfinite(x_cfn)
    bad = failures(results)
    lines = [
        "# Random sweep of the independent generator",
        "",
        "Each frame: one of ten scenes of `benchmarks/independent.py` (in turn), with the 1/f's "
        "spectral index drawn uniformly in 0.6–1.8, its shared amplitude log-uniformly in "
        "0.01–0.2 DN/s, each output's own log-uniformly in 0.003–0.1 DN/s, the pause after each "
        "line in 0–39 pixel clocks, and the pipeline's reference-pixel step run on 70 % of the "
        "frames (MIRI keeps its defaults). Seconds are CPU seconds; stripe rms and bias as in "
        "the independent tables (one seed per frame: a small window's bias scatters by per "
        "cents for any method). ⚠: above the limits of the summary. Frames without the "
        "reference-pixel step and with strong or red 1/f are where a sky gradient and the slow "
        "stripes cannot be told apart (the *sky unknown* floors of the independent tables).",
        "",
        f"Command: `{command}`",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {_machine()}",
        "- software: " + ", ".join(f"{k} {v}" for k, v in _versions().items()),
        f"- Frames: {len(results)}. jwst1f's stripe rms × the oracle's: median "
        f"{np.median(x):.2f}, 90th percentile {np.percentile(x, 90):.2f}, worst {x.max():.2f}.",
    ]
    if both.any():
        lines.append(
            f"- Below CleanFlickerNoiseStep on {int((x[both] < x_cfn[both]).sum())} of "
            f"{int(both.sum())} frames (CFN median {np.median(x_cfn[both]):.2f} × oracle)."
        )
    lines += [
        f"- Above {X_LIMIT} × oracle or more than {BIAS_LIMIT} percentage point off the "
        f"oracle's flux bias: {len(bad)} frames ({', '.join(n.split()[0] for n in bad) or 'none'}).",
        "",
        f"| frame | scene | noise | {METHOD_HEADER}",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        idx, scene = name.split(" ", 1)
        flag = " ⚠" if name in bad else ""
        lines.append(f"| {idx}{flag} | {scene} | {rows['_settings']} | {method_cells(rows)}")
    return lines + note_lines(results) + [""]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.sweep [--frames N] [--start I] [--no-cfn] [--write FILE]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=60, help="number of frames (default 60)")
    ap.add_argument("--start", type=int, default=0, help="first frame index (default 0)")
    ap.add_argument("--no-cfn", action="store_true", help="skip CleanFlickerNoiseStep")
    ap.add_argument("--write", type=Path, help="write the Markdown here (default: stdout)")
    args = ap.parse_args(argv)
    if args.frames < 1 or args.start < 0:
        ap.error("--frames must be at least 1 and --start at least 0")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    res = run_sweep(range(args.start, args.start + args.frames), cfn=not args.no_cfn)
    command = command_line("benchmarks.sweep", argv)
    write_report(markdown(res, command), args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
