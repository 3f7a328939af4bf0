"""Rule ``level3_association``: write one level-3 association beside its members."""

import json
from pathlib import Path

from jwst1f.associations import Level3Product, level3_association, write_association
from jwst1f.pipeline import log_to_file


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        with open(sm.input.manifest) as fh:
            products = json.load(fh)["products"]
        entry = next(p for p in products if p["name"] == sm.wildcards.product)
        entry["members"] = tuple(Path(m) for m in entry["members"])
        write_association(level3_association(Level3Product(**entry)), sm.output[0])


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
