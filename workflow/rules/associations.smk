# Associations regenerated from the headers of the files that exist.
# Level 2: one per science exposure, beside its rate file (bare member names), with background and
# imprint members where configured. Level 3: a checkpoint reads the stage-2 headers and groups
# them by target and instrument configuration; one association per product, beside the members.


rule level2_association:
    input:
        unpack(get_level2_input),
    output:
        "results/{programme}/{ratedir}/{exposure}_asn.json",
    log:
        "results/{programme}/logs/level2_association/{ratedir}_{exposure}.log",
    benchmark:
        "results/{programme}/benchmarks/level2_association/{ratedir}_{exposure}.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../../scripts/level2_association.py"


checkpoint level3_manifest:
    input:
        get_level3_manifest_input,
    output:
        "results/{programme}/asn/level3.json",
    log:
        "results/{programme}/logs/level3_manifest.log",
    benchmark:
        "results/{programme}/benchmarks/level3_manifest.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        product_name=lambda wildcards: PROGRAMMES[wildcards.programme]["config"].get(
            "product_name"
        ),
    script:
        "../../scripts/level3_manifest.py"


rule level3_association:
    input:
        manifest="results/{programme}/asn/level3.json",
        members=get_level3_members,
    output:
        "results/{programme}/{stage2}/{product}_{stage3}_asn.json",
    log:
        "results/{programme}/logs/level3_association/{stage2}_{product}_{stage3}.log",
    benchmark:
        "results/{programme}/benchmarks/level3_association/{stage2}_{product}_{stage3}.tsv"
    wildcard_constraints:
        stage2="image2|spec2",
        stage3="image3|spec3",
    conda:
        "../envs/jwst1f.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../../scripts/level3_association.py"
