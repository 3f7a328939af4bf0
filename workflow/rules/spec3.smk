# calwebb_spec3: one job per level-3 product (known after the level3_manifest checkpoint).
# Spec3 product names depend on the mode (s3d/x1d for IFU, per-source x1d/s2d for slits), so the
# declared output is a record listing every file jwst wrote under spec3/.


rule spec3:
    input:
        asn="results/{programme}/spec2/{product}_spec3_asn.json",
        members=get_level3_members,
        crds=ancient(CRDS_RECORD),
    output:
        record="results/{programme}/spec3/{product}_spec3.json",
    log:
        "results/{programme}/logs/spec3/{product}.log",
    benchmark:
        "results/{programme}/benchmarks/spec3/{product}.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: config["threads"]["spec3"]
    resources:
        **jwst_resources(factor=6, base_mb=2000, minutes=20, per_mb_minutes=0.1),
    params:
        stage="spec3",
        steps=lambda wildcards: steps_for(wildcards.programme, "spec3"),
        crds=CRDS_SETTINGS,
    script:
        "../../scripts/run_stage.py"
