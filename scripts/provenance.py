"""Rule ``provenance``: record config, software versions and CRDS context with the products."""

from jwst1f.pipeline import log_to_file, provenance_record, write_json


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        record = provenance_record(
            products=list(sm.input.products),
            crds_record=sm.input.crds[0] if sm.input.crds else None,
            config=dict(sm.params.config),
            programme=dict(sm.params.programme),
            stages=dict(sm.params.stages),
            destripe=dict(sm.params.destripe),
            steps=dict(sm.params.steps),
        )
        write_json(sm.output[0], record)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
