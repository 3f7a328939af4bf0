"""Rule ``detector1``: calwebb_detector1 on one uncal file (a rate input is only copied)."""

import shutil
from pathlib import Path

from jwst1f.pipeline import log_to_file, run_stage

sm = snakemake  # noqa: F821 - injected by Snakemake

with log_to_file(sm.log[0]):
    src, out = Path(sm.input.exposure), Path(sm.output.rate)
    if src.name.endswith("_rate.fits"):
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
    else:
        run_stage(
            "detector1",
            src,
            output_dir=out.parent,
            crds=sm.params.crds,
            steps=sm.params.steps,
            threads=sm.threads,
            expected=[out],
        )
