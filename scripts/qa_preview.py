"""Rule ``qa_preview``: a quick-look PNG of one level-3 product."""

from jwst1f.pipeline import log_to_file, preview_product


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        preview_product(sm.input[0], sm.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
