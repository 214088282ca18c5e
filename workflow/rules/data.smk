# Dataset preparation -> resources/data/<dataset>/


rule prepare_toy_data:
    output:
        data="resources/data/{dataset}/dataset.nc",
    params:
        dataset=lambda wildcards: canonical(config["datasets"][wildcards.dataset]),
    log:
        "logs/prepare_toy_data/{dataset}.log",
    benchmark:
        "results/benchmarks/rules/prepare_toy_data/{dataset}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/prepare_toy_data.py"
