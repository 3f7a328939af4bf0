"""Rule ``destripe``: remove 1/f stripes from one rate file (jwst1f.io.destripe_file)."""

from pathlib import Path

from jwst1f.io import destripe_file
from jwst1f.pipeline import log_to_file


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        Path(sm.output.figures).mkdir(parents=True, exist_ok=True)
        destripe_file(
            sm.input.rate,
            Path(sm.output.rate).parent,
            params=dict(sm.params.destripe),
            plots_dir=sm.output.figures,
            metrics_dir=Path(sm.output.metrics).parent,
            save_model=sm.params.options["save_model"],
            update_variance=sm.params.options["update_variance"],
        )


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
