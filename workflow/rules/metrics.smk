# Metrics: the exact reference conditional, then one metrics file per run.


rule toy_reference:
    input:
        checkpoint="results/checkpoints/{dataset}/vae.pt",
        points="resources/masks/{dataset}/pitfall_points.nc",
    output:
        reference="results/runs/{experiment}/{dataset}/reference/conditional.nc",
    params:
        metrics=canonical(TOY["metrics"]),
    log:
        "logs/toy_reference/{experiment}/{dataset}.log",
    benchmark:
        "results/benchmarks/rules/toy_reference/{experiment}/{dataset}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_reference.py"


rule toy_run_metrics:
    input:
        samples="results/runs/{experiment}/{dataset}/{run}/seed{seed}/samples.nc",
        reference="results/runs/{experiment}/{dataset}/reference/conditional.nc",
    output:
        metrics="results/runs/{experiment}/{dataset}/{run}/seed{seed}/metrics.nc",
    params:
        metrics=canonical(TOY["metrics"]),
    log:
        "logs/toy_run_metrics/{experiment}/{dataset}/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/rules/toy_run_metrics/{experiment}/{dataset}/{run}/seed{seed}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_run_metrics.py"
