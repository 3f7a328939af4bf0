"""Checkpoint ``level3_manifest``: group the stage-2 products into level-3 products."""

from jwst1f.associations import level3_products
from jwst1f.pipeline import log_to_file, write_json


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        products = level3_products(list(sm.input), product_name=sm.params.product_name)
        write_json(sm.output[0], {"products": [p.to_dict() for p in products]})


if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
