"""Rules ``image2``, ``spec2``, ``image3``, ``spec3``: one jwst pipeline on one association."""

from pathlib import Path

from jwst1f.pipeline import log_to_file, run_stage, write_json


def main(sm) -> None:
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
            products = [p.name for p in written]
            write_json(record, {"association": sm.input.asn, "products": products})


# The guard keeps multiprocessing children spawned by jwst steps from re-running the rule.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
