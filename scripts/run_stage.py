"""Rules ``image2``, ``spec2``, ``image3``, ``spec3``: one jwst pipeline on one association."""

from pathlib import Path

from jwst1f.pipeline import log_to_file, run_stage, write_json

sm = snakemake  # noqa: F821 - injected by Snakemake

with log_to_file(sm.log[0]):
    out = Path(sm.output[0])
    record = sm.output.get("record")
    written = run_stage(
        sm.params.stage,
        sm.input.asn,
        output_dir=out.parent,
        crds=sm.params.crds,
        steps=sm.params.steps,
        threads=sm.threads,
        expected=[] if record else list(sm.output),
    )
    if record:
        write_json(record, {"association": sm.input.asn, "products": [p.name for p in written]})
