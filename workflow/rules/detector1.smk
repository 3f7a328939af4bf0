# Detector1: uncal -> rate, one job per exposure. Programmes that start from rate files skip it
# (their rate files are copied here only when the destriper is switched off, so that the level-2
# associations can sit beside their members).


rule detector1:
    input:
        exposure=get_detector1_input,
        crds=ancient(CRDS_RECORD),
    output:
        rate=temp_if("results/{programme}/detector1/{exposure}_rate.fits", "detector1"),
    log:
        "results/{programme}/logs/detector1/{exposure}.log",
    benchmark:
        "results/{programme}/benchmarks/detector1/{exposure}.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: config["threads"]["detector1"]
    resources:
        **jwst_resources(factor=45, base_mb=1000, minutes=10, per_mb_minutes=0.2),
    params:
        steps=lambda wildcards: steps_for(wildcards.programme, "detector1"),
        crds=CRDS_SETTINGS,
    script:
        "../../scripts/detector1.py"
