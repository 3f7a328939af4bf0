"""Rule ``detector1``: calwebb_detector1 on one uncal file (a rate input is only copied)."""

import shutil
from pathlib import Path

from jwst1f.pipeline import log_to_file, run_stage


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        src, out = Path(sm.input.exposure), Path(sm.output.rate)
        if src.name.endswith("_rate.fits"):
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
            return
        run_stage(
            "detector1",
            src,
            output_dir=out.parent,
            crds=sm.params.crds,
            steps=sm.params.steps,
            threads=sm.threads,
            expected=[out],
        )


# The guard keeps multiprocessing children (jump, ramp_fit with maximum_cores > 1) from
# re-running the rule when they import this file.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
