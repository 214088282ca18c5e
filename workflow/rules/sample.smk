# Sampler runs -> results/runs/<experiment>/<dataset>/<run>/seed<k>/samples.nc
# params hold only this run's own config: editing one sampler reruns only that sampler.


rule run_sampler:
    wildcard_constraints:
        experiment="toy_pitfalls",
        dataset="toy_grid",
    input:
        checkpoint="results/checkpoints/{dataset}/vae.pt",
        points="resources/masks/{dataset}/pitfall_points.nc",
    output:
        samples="results/runs/{experiment}/{dataset}/{run}/seed{seed}/samples.nc",
    params:
        run=lambda wildcards: canonical(TOY["samplers"][wildcards.run]),
        seed=toy_run_seed,
        device=config["device"],
        progress=config.get("progress", True),
    log:
        "logs/run_sampler/{experiment}/{dataset}/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/rules/run_sampler/{experiment}/{dataset}/{run}/seed{seed}.tsv"
    threads: 1
    resources:
        gpu=config.get("gpus_per_job", 0),
    conda:
        "../../environment.yml"
    script:
        "../scripts/run_sampler.py"


rule sample_test_points:
    # One sampler run of a real-data experiment on one task (dataset, missingness) and seed.
    input:
        checkpoint="results/checkpoints/{dataset}/vae.pt",
        points="resources/masks/{experiment}/{dataset}/{missingness}.nc",
        data="resources/data/{dataset}/dataset.nc",
    output:
        samples="results/runs/{experiment}/{dataset}/{missingness}/{run}/seed{seed}/samples.nc",
    params:
        run=plan_run_config,
        seed=plan_run_seed,
        store=lambda wildcards: PLANS[wildcards.experiment].store,
        batch_size=lambda wildcards: PLANS[wildcards.experiment].config.batch_size,
        device=config["device"],
        progress=config.get("progress", True),
    log:
        "logs/sample_test_points/{experiment}/{dataset}/{missingness}/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/rules/sample_test_points/{experiment}/{dataset}/{missingness}/{run}/seed{seed}.tsv"
    wildcard_constraints:
        experiment="|".join(PLANS or ["__none__"]),
    threads: 1
    resources:
        gpu=config.get("gpus_per_job", 0),
    conda:
        "../../environment.yml"
    script:
        "../scripts/sample_test_points.py"
