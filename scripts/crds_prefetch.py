"""Rule ``crds_prefetch``: fill the CRDS cache once, before any jwst job."""

from jwst1f.pipeline import log_to_file, prefetch_crds, write_json


def main(sm) -> None:
    with log_to_file(sm.log[0]):
        record = prefetch_crds(
            sm.params.crds, datasets=sm.params.datasets, detectors=sm.params.detectors
        )
        write_json(sm.output[0], record)


# The guard keeps multiprocessing children (spawned by jwst steps) from re-running the rule.
if __name__ == "__main__":
    main(snakemake)  # noqa: F821 - injected by Snakemake
