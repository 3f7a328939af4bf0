# calwebb_image3: one job per level-3 product (known after the level3_manifest checkpoint);
# writes the <product>_i2d.fits mosaic (and jwst's other image3 products) under image3/.


rule image3:
    input:
        asn="results/{programme}/image2/{product}_image3_asn.json",
        members=get_level3_members,
        crds=ancient(CRDS_RECORD),
    output:
        i2d="results/{programme}/image3/{product}_i2d.fits",
    log:
        "results/{programme}/logs/image3/{product}.log",
    benchmark:
        "results/{programme}/benchmarks/image3/{product}.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: config["threads"]["image3"]
    resources:
        **jwst_resources(factor=6, base_mb=2000, minutes=15, per_mb_minutes=0.1),
    params:
        stage="image3",
        steps=lambda wildcards: steps_for(wildcards.programme, "image3"),
        crds=CRDS_SETTINGS,
    script:
        "../../scripts/run_stage.py"
