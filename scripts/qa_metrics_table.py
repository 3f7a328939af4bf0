"""Rule ``qa_metrics_table``: the destriping metrics of a programme as TSV and HTML."""

from jwst1f.pipeline import log_to_file, metrics_table


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        metrics_table(list(sm.input), tsv=sm.output.tsv, html=sm.output.html)


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
