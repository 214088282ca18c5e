# Missingness -> resources/masks/<dataset>/


rule toy_test_points:
    wildcard_constraints:
        dataset="toy_grid",
    output:
        points="resources/masks/{dataset}/pitfall_points.nc",
    params:
        values=TOY.get("point_values", [-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0]),
    log:
        "logs/toy_test_points/{dataset}.log",
    benchmark:
        "results/benchmarks/rules/toy_test_points/{dataset}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/toy_test_points.py"


rule test_points:
    # The real-data experiments' incomplete test points: MNIST-GMM's hand-made masks, Omniglot's
    # missing quadrants, UCI's exact-fraction MCAR; rows with nothing observed removed.
    input:
        data="resources/data/{dataset}/dataset.nc",
    output:
        points="resources/masks/{experiment}/{dataset}/{missingness}.nc",
    params:
        experiment=lambda wildcards: canonical(
            {k: v for k, v in config["experiments"][wildcards.experiment].items() if k != "samplers"}
        ),
    log:
        "logs/test_points/{experiment}/{dataset}/{missingness}.log",
    benchmark:
        "results/benchmarks/rules/test_points/{experiment}/{dataset}/{missingness}.tsv"
    wildcard_constraints:
        experiment="|".join(PLANS or ["__none__"]),
    conda:
        "../../environment.yml"
    script:
        "../scripts/test_points.py"
