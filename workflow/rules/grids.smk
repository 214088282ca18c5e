# Result grids: one xarray netCDF file per experiment.


rule toy_pitfalls_grid:
    input:
        metrics=[path for _, path in toy_metric_inputs()],
        reference=f"results/runs/toy_pitfalls/{TOY['dataset']}/reference/conditional.nc",
    output:
        grid="results/grids/toy_pitfalls.nc",
    params:
        seeds=[seed for seed, _ in toy_metric_inputs()],
        order=toy_row_names(),
        device=config["device"],
        config=canonical(
            {
                "experiment": TOY,
                "dataset": config["datasets"][TOY["dataset"]],
                "model": config["models"][TOY["dataset"]],
            }
        ),
    log:
        "logs/toy_pitfalls_grid.log",
    benchmark:
        "results/benchmarks/rules/toy_pitfalls_grid.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_grid.py"


rule experiment_grid:
    # MNIST-GMM, Omniglot or UCI: every run's metrics -> results/grids/<experiment>.nc
    input:
        metrics=lambda wildcards: [p for *_, p in PLANS[wildcards.experiment].run_paths("metrics")],
        points=lambda wildcards: sorted(
            {f"resources/masks/{wildcards.experiment}/{d}/{m}.nc" for d, m in PLANS[wildcards.experiment].tasks}
        ),
        data=lambda wildcards: sorted(
            {f"resources/data/{d}/dataset.nc" for d, _ in PLANS[wildcards.experiment].tasks}
        ),
    output:
        grid="results/grids/{experiment}.nc",
    params:
        run_keys=lambda wildcards: [[d, m, s] for d, m, s, _ in PLANS[wildcards.experiment].run_paths("metrics")],
        order=lambda wildcards: PLANS[wildcards.experiment].rows,
        device=config["device"],
        config=lambda wildcards: canonical(
            {
                "experiment": config["experiments"][wildcards.experiment],
                "datasets": {d: config["datasets"][d] for d, _ in PLANS[wildcards.experiment].tasks},
                "models": {d: config["models"][d] for d, _ in PLANS[wildcards.experiment].tasks},
            }
        ),
    log:
        "logs/experiment_grid/{experiment}.log",
    benchmark:
        "results/benchmarks/rules/experiment_grid/{experiment}.tsv"
    wildcard_constraints:
        experiment="|".join(PLANS or ["__none__"]),
    conda:
        "../../environment.yml"
    script:
        "../scripts/experiment_grid.py"
