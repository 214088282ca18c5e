# Missingness -> resources/masks/<dataset>/


rule toy_test_points:
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
