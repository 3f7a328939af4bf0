"""Rule ``crds_prefetch``: fill the CRDS cache once, before any jwst job."""

from jwst1f.pipeline import log_to_file, prefetch_crds, write_json

sm = snakemake  # noqa: F821 - injected by Snakemake

with log_to_file(sm.log[0]):
    record = prefetch_crds(
        sm.params.crds, datasets=sm.params.datasets, detectors=sm.params.detectors
    )
    write_json(sm.output[0], record)
