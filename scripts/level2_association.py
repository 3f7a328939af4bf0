"""Rule ``level2_association``: the level-2 association of one science exposure."""

from jwst1f.associations import level2_association, write_association
from jwst1f.pipeline import log_to_file


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        asn = level2_association(
            sm.input.science, background=sm.input.background, imprint=sm.input.imprint
        )
        write_association(asn, sm.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
