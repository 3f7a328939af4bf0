# calwebb_image2: one job per level-2 association (one science exposure); writes <exposure>_cal.fits.


rule image2:
    input:
        unpack(get_stage2_input),
        crds=ancient(CRDS_RECORD),
    output:
        cal=temp_if("results/{programme}/image2/{exposure}_cal.fits", "stage2"),
    log:
        "results/{programme}/logs/image2/{exposure}.log",
    benchmark:
        "results/{programme}/benchmarks/image2/{exposure}.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: config["threads"]["image2"]
    resources:
        **jwst_resources(factor=12, base_mb=1000, minutes=10, per_mb_minutes=0.1),
    params:
        stage="image2",
        steps=lambda wildcards: steps_for(wildcards.programme, "image2"),
        crds=CRDS_SETTINGS,
    script:
        "../../scripts/run_stage.py"
