# Metrics: the exact reference conditional, then one metrics file per run.


rule toy_reference:
    wildcard_constraints:
        experiment="toy_pitfalls",
        dataset="toy_grid",
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
    wildcard_constraints:
        experiment="toy_pitfalls",
        dataset="toy_grid",
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


rule score_test_points:
    # The metrics of one real-data run: MNIST-GMM class-posterior divergences and per-point FIDs,
    # Omniglot FID / F1 / SSIM, UCI Sinkhorn / energy / MMD.
    input:
        unpack(classifier_input),
        samples="results/runs/{experiment}/{dataset}/{missingness}/{run}/seed{seed}/samples.nc",
        points="resources/masks/{experiment}/{dataset}/{missingness}.nc",
        data="resources/data/{dataset}/dataset.nc",
        checkpoint="results/checkpoints/{dataset}/vae.pt",
    output:
        metrics="results/runs/{experiment}/{dataset}/{missingness}/{run}/seed{seed}/metrics.nc",
    params:
        metrics=lambda wildcards: canonical(config["experiments"][wildcards.experiment].get("metrics", {})),
    log:
        "logs/score_test_points/{experiment}/{dataset}/{missingness}/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/rules/score_test_points/{experiment}/{dataset}/{missingness}/{run}/seed{seed}.tsv"
    wildcard_constraints:
        experiment="|".join(PLANS or ["__none__"]),
    threads: 1
    conda:
        "../../environment.yml"
    script:
        "../scripts/score_test_points.py"
