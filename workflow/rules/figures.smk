# Figures and tables: read result grids only.


rule fig_toy_pitfalls:
    input:
        grid="results/grids/toy_pitfalls.nc",
    params:
        rows=TOY["figures"]["pitfalls"],
    output:
        png=report(
            "results/figures/toy_pitfalls.png",
            caption="../report/toy_pitfalls_figure.rst",
            category="Toy pitfalls",
        ),
        pdf="results/figures/toy_pitfalls.pdf",
    log:
        "logs/fig_toy_pitfalls.log",
    benchmark:
        "results/benchmarks/rules/fig_toy_pitfalls.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fig_toy_pitfalls.py"


rule fig_toy_ablations:
    input:
        grid="results/grids/toy_pitfalls.nc",
    params:
        groups=canonical(TOY["figures"]["ablations"]),
    output:
        png=report(
            "results/figures/toy_ablations.png",
            caption="../report/toy_ablations_figure.rst",
            category="Toy pitfalls",
        ),
        pdf="results/figures/toy_ablations.pdf",
    log:
        "logs/fig_toy_ablations.log",
    benchmark:
        "results/benchmarks/rules/fig_toy_ablations.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fig_toy_ablations.py"


rule table_toy_pitfalls:
    input:
        grid="results/grids/toy_pitfalls.nc",
    output:
        markdown="results/tables/toy_pitfalls.md",
        csv=report(
            "results/tables/toy_pitfalls.csv",
            caption="../report/toy_pitfalls_table.rst",
            category="Toy pitfalls",
        ),
    log:
        "logs/table_toy_pitfalls.log",
    benchmark:
        "results/benchmarks/rules/table_toy_pitfalls.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/table_toy_pitfalls.py"


rule fig_experiment:
    # The paper's figure of a real-data experiment: box and strip plots over seeds (and points
    # or imputations) per sampler; one panel per missingness level (Omniglot) or dataset (UCI).
    input:
        grid="results/grids/{experiment}.nc",
    output:
        png=report(
            "results/figures/{experiment}.png",
            caption="../report/experiment_figure.rst",
            category="{experiment}",
        ),
        pdf="results/figures/{experiment}.pdf",
    log:
        "logs/fig_experiment/{experiment}.log",
    benchmark:
        "results/benchmarks/rules/fig_experiment/{experiment}.tsv"
    wildcard_constraints:
        experiment="|".join(PLANS or ["__none__"]),
    conda:
        "../../environment.yml"
    script:
        "../scripts/fig_experiment.py"


rule table_experiment:
    input:
        grid="results/grids/{experiment}.nc",
    output:
        markdown="results/tables/{experiment}.md",
        csv=report(
            "results/tables/{experiment}.csv",
            caption="../report/experiment_table.rst",
            category="{experiment}",
        ),
    log:
        "logs/table_experiment/{experiment}.log",
    benchmark:
        "results/benchmarks/rules/table_experiment/{experiment}.tsv"
    wildcard_constraints:
        experiment="|".join(PLANS or ["__none__"]),
    conda:
        "../../environment.yml"
    script:
        "../scripts/table_experiment.py"


rule fig_training_curves:
    input:
        training_histories,
    output:
        png=report(
            "results/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="Training",
        ),
        pdf="results/figures/training_curves.pdf",
    log:
        "logs/fig_training_curves.log",
    benchmark:
        "results/benchmarks/rules/fig_training_curves.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/fig_training_curves.py"


rule check_claims:
    # The papers' claims (workflow/claims.yaml) evaluated on this run's grids: pass, fail or not run.
    input:
        claims="workflow/claims.yaml",
        grids=lambda wildcards: claim_grids(),
    output:
        markdown="results/tables/claims.md",
        csv=report(
            "results/tables/claims.csv",
            caption="../report/claims.rst",
            category="Claims",
        ),
    params:
        note=claims_note(),
    log:
        "logs/check_claims.log",
    benchmark:
        "results/benchmarks/rules/check_claims.tsv"
    conda:
        "../../environment.yml"
    script:
        "../scripts/check_claims.py"
