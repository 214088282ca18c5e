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
