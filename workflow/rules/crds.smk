# CRDS: fill the reference-file cache once, before any jwst job, so that parallel jobs never
# download into the same cache at the same time. Every jwst rule takes the record as an
# ancient() input: it orders the jobs without making a later prefetch rerun the reductions.


rule crds_prefetch:
    output:
        CRDS_RECORD,
    log:
        "results/logs/crds_prefetch.log",
    benchmark:
        "results/benchmarks/crds_prefetch.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=60,
    params:
        crds=CRDS_SETTINGS,
        datasets=sorted(str(e.path) for p in PROGRAMMES for e in exposures(p)),
        detectors=sorted({e.info.detector for p in PROGRAMMES for e in exposures(p)}),
    script:
        "../../scripts/crds_prefetch.py"
