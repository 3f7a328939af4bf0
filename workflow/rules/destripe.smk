# 1/f destriping: one job per rate file. The resolved parameters are a params: entry, so that
# changing one of them reruns exactly the exposures (and products) that depend on it.


rule destripe:
    input:
        rate=get_destripe_input,
    output:
        rate=temp_if("results/{programme}/destripe/{exposure}_rate.fits", "destripe"),
        metrics="results/{programme}/qa/metrics/{exposure}_rate_1fmetrics.json",
        figures=report(
            directory("results/{programme}/qa/figures/{exposure}"),
            patterns=["{name}.png"],
            caption="../report/destripe.rst",
            category="1/f destriping",
            subcategory="{programme}",
        ),
    log:
        "results/{programme}/logs/destripe/{exposure}.log",
    benchmark:
        "results/{programme}/benchmarks/destripe/{exposure}.tsv"
    conda:
        "../envs/jwst1f.yaml"
    threads: config["threads"]["destripe"]
    resources:
        mem_mb=lambda wildcards, input, attempt: int(
            (500 + 6 * size_mb(input)) * attempt
        ),
        runtime=lambda wildcards, input, attempt: int(
            (5 + 0.02 * size_mb(input)) * attempt
        ),
    params:
        destripe=get_destripe_params,
        options=DESTRIPE_OUTPUT,
    script:
        "../../scripts/destripe.py"
