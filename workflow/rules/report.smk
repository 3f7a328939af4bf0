# Provenance: the resolved config, the software versions and the CRDS context, recorded with the
# products of each programme once they all exist.


rule provenance:
    input:
        products=lambda wildcards: programme_products(wildcards.programme),
        crds=get_crds_record,
    output:
        report(
            "results/{programme}/provenance.json",
            caption="../report/provenance.rst",
            category="Provenance",
            subcategory="{programme}",
        ),
    log:
        "results/{programme}/logs/provenance.log",
    benchmark:
        "results/{programme}/benchmarks/provenance.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        config=config_record(),
        programme=lambda wildcards: canonical(PROGRAMMES[wildcards.programme]["config"]),
        stages=lambda wildcards: canonical(stages(wildcards.programme)),
        destripe=lambda wildcards: canonical(
            PROGRAMMES[wildcards.programme]["destripe_params"]
        ),
        steps=lambda wildcards: {
            s: steps_for(wildcards.programme, s)
            for s in ("detector1", "image2", "image3", "spec2", "spec3")
        },
    script:
        "../../scripts/provenance.py"
