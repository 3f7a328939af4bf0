"""Rule ``qa_preview``: a quick-look PNG of one level-3 product."""

from jwst1f.pipeline import log_to_file, preview_product

sm = snakemake  # noqa: F821 - injected by Snakemake

with log_to_file(sm.log[0]):
    preview_product(sm.input[0], sm.output[0])
