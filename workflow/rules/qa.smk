# QA: the per-exposure destriping figures come from the destripe rule; here, the per-programme
# metrics table and a quick look at every level-3 mosaic, both shown in the HTML report.


rule qa_metrics_table:
    input:
        lambda wildcards: [
            f"results/{wildcards.programme}/qa/metrics/{e.name}_rate_1fmetrics.json"
            for e in exposures(wildcards.programme)
        ],
    output:
        tsv="results/{programme}/qa/destripe_metrics.tsv",
        html=report(
            "results/{programme}/qa/destripe_metrics.html",
            caption="../report/metrics.rst",
            category="1/f destriping",
            subcategory="{programme}",
        ),
    log:
        "results/{programme}/logs/qa_metrics_table.log",
    benchmark:
        "results/{programme}/benchmarks/qa_metrics_table.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../../scripts/qa_metrics_table.py"


rule qa_preview:
    input:
        "results/{programme}/image3/{product}_i2d.fits",
    output:
        report(
            "results/{programme}/qa/{product}_i2d.png",
            caption="../report/mosaic.rst",
            category="Level-3 products",
            subcategory="{programme}",
        ),
    log:
        "results/{programme}/logs/qa_preview/{product}.log",
    benchmark:
        "results/{programme}/benchmarks/qa_preview/{product}.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, input, attempt: int(
            (500 + 8 * size_mb(input)) * attempt
        ),
        runtime=5,
    script:
        "../../scripts/qa_preview.py"
