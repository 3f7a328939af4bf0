"""``jwst1f simulate``: write simulated JWST exposures (uncal, rate, rateints, truth)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["cli_main", "build_parser"]

_PRODUCTS = ("uncal", "rate", "rateints", "truth")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``jwst1f simulate``."""
    from jwst1f.instruments import DETECTORS, READOUT_PATTERNS, SUBARRAYS
    from jwst1f.simulate.cases import CASES
    from jwst1f.simulate.scenes import SCENES

    p = argparse.ArgumentParser(
        prog="jwst1f simulate",
        description=(
            "Simulate JWST exposures with HxRG 1/f noise modelled along the pixel clock "
            "(MIRI: column-interleaved banding) and write uncal / rate / rateints files plus "
            "a truth file (RATE_NO1F, SCENE, SKY, EMPTY)."
        ),
        epilog=(
            "Examples:\n"
            "  jwst1f simulate --case nircam_full_stars --seed 3 -o sims\n"
            "  jwst1f simulate --detector NRCALONG --subarray SUBGRISM64_1OUT "
            "--products uncal,rate,truth -o sims\n"
            "  jwst1f simulate --programme --dithers 3 --detector NRCA1 -o demo_uncal\n"
            "  jwst1f simulate --list"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = p.add_argument_group("what to simulate")
    what.add_argument("--case", choices=sorted(CASES), help="a named benchmark case")
    what.add_argument(
        "--detector",
        default="NRCA1",
        type=str.upper,
        choices=sorted(DETECTORS),
        metavar="DETECTOR",
        help="DETECTOR keyword (default NRCA1): " + ", ".join(DETECTORS),
    )
    what.add_argument(
        "--subarray",
        default="FULL",
        type=str.upper,
        metavar="NAME",
        help="subarray (default FULL): " + ", ".join(sorted({n for (_, n) in SUBARRAYS})),
    )
    what.add_argument("--exp-type", type=str.upper, help="EXP_TYPE (default per instrument)")
    what.add_argument("--scene", choices=SCENES, help="scene (default per exposure type)")
    what.add_argument("--filter", type=str.upper, help="FILTER (default per mode)")
    what.add_argument(
        "--readpatt",
        type=str.upper,
        choices=sorted(READOUT_PATTERNS),
        metavar="PATTERN",
        help="readout pattern (default: the instrument's one-frame pattern)",
    )
    what.add_argument("--ngroups", type=int, default=6, help="groups per integration (default 6)")
    what.add_argument("--nints", type=int, default=1, help="integrations (default 1)")
    what.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    what.add_argument("--no-1f", action="store_true", help="leave out the correlated readout noise")
    prog = p.add_argument_group("dithered programme")
    prog.add_argument(
        "--programme",
        action="store_true",
        help="simulate a small dithered programme of --detector (repeatable via commas)",
    )
    prog.add_argument("--dithers", type=int, default=3, help="dither positions (default 3)")
    out = p.add_argument_group("output")
    out.add_argument(
        "--products",
        default="rate,truth",
        help="comma-separated: uncal, rate, rateints, truth (default rate,truth; "
        "programme default uncal,truth)",
    )
    out.add_argument("-o", "--outdir", type=Path, default=Path("."), help="output folder")
    out.add_argument(
        "--plot", type=Path, metavar="PNG", help="also write a quick-look figure of the exposure"
    )
    out.add_argument("--list", action="store_true", help="list cases, detectors and subarrays")
    out.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return p


def _list() -> None:
    from jwst1f.instruments import DETECTORS, SUBARRAYS
    from jwst1f.simulate.cases import CASES

    print("cases:")
    for name in CASES:
        print(f"  {name}")
    print("detectors:")
    for d in DETECTORS.values():
        print(
            f"  {d.detector:9s} {d.instrument:8s} FASTAXIS={d.fastaxis:+d} "
            f"SLOWAXIS={d.slowaxis:+d} gain={d.gain} e-/DN"
        )
    print("subarrays:")
    for (instr, name), s in SUBARRAYS.items():
        print(
            f"  {instr:8s} {name:17s} start=({s.xstart},{s.ystart}) "
            f"size={s.xsize}x{s.ysize} outputs={s.noutputs}"
        )


def cli_main(argv: list[str] | None = None) -> int:
    """Run ``jwst1f simulate``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.list:
        _list()
        return 0
    products = [x.strip().lower() for x in args.products.split(",") if x.strip()]
    bad = [x for x in products if x not in _PRODUCTS]
    if bad:
        parser.error(f"unknown product(s) {bad}; choose from {', '.join(_PRODUCTS)}")
    from jwst1f.simulate import simulate_exposure, write_rate, write_truth, write_uncal
    from jwst1f.simulate.cases import make_case
    from jwst1f.simulate.programme import DEFAULT_DITHERS, ProgrammeSpec, simulate_programme

    try:
        if args.programme:
            if args.products == parser.get_default("products"):
                products = ["uncal", "truth"]
            dithers = list(DEFAULT_DITHERS)
            while len(dithers) < args.dithers:
                k = len(dithers)
                dithers.append(
                    (1.9 * ((k % 3) - 1) + 0.37 * k, 2.3 * ((k // 3) % 3 - 1) + 0.29 * k)
                )
            spec = ProgrammeSpec(
                detectors=[args.detector],
                subarray=args.subarray,
                scene=args.scene or "field",
                dithers=dithers[: args.dithers],
                ngroups=args.ngroups,
                nints=args.nints,
                readpatt=args.readpatt,
                products=products,
                seed=args.seed,
            )
            for path in simulate_programme(args.outdir, spec, progress=True):
                print(path)
            return 0
        if args.case:
            overrides = {"keep_ramp": True} if "uncal" in products else {}
            exp = make_case(args.case, args.seed, **overrides)
        else:
            exp = simulate_exposure(
                detector=args.detector,
                subarray=args.subarray,
                exp_type=args.exp_type,
                scene=args.scene,
                filter=args.filter,
                readpatt=args.readpatt,
                ngroups=args.ngroups,
                nints=args.nints,
                seed=args.seed,
                one_over_f=not args.no_1f,
                keep_ramp="uncal" in products,
            )
    except (KeyError, ValueError) as err:
        print(f"jwst1f simulate: error: {err}", file=sys.stderr)
        return 2
    written = []
    if "uncal" in products:
        written.append(write_uncal(exp, args.outdir))
    if "rate" in products:
        written.append(write_rate(exp, args.outdir, product="rate"))
    if "rateints" in products:
        written.append(write_rate(exp, args.outdir, product="rateints"))
    if "truth" in products:
        written.append(write_truth(exp, args.outdir))
    if args.plot is not None:
        from jwst1f.simulate.plot import plot_exposure

        written.append(plot_exposure(exp, args.plot))
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli_main())
