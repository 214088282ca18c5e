# Dataset preparation -> resources/data/<dataset>/


rule prepare_toy_data:
    wildcard_constraints:
        dataset="toy_grid",
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


rule download_raw:
    # Real datasets only: fetch one raw file into data/<dataset>/ (tracked by data.dvc) and verify
    # its checksum. Offline, fails at once naming the file, the URL and how to place it by hand.
    output:
        raw="data/{subdir}/{filename}",
    params:
        url=lambda wildcards: REMOTES[(wildcards.subdir, wildcards.filename)].url,
        progress=config.get("progress", True),
    log:
        "logs/download_raw/{subdir}/{filename}.log",
    wildcard_constraints:
        subdir="|".join(sorted({d for d, _ in REMOTES}) or ["__none__"]),
        filename="|".join(sorted({f for _, f in REMOTES}) or ["__none__"]),
    retries: 0
    # on a cluster, downloads run where Snakemake runs: compute nodes are often offline
    localrule: True
    conda:
        "../../environment.yml"
    script:
        "../scripts/download_raw.py"


rule prepare_dataset:
    # Stand-ins are built from data bundled with scikit-learn; real datasets from data/<dataset>/.
    input:
        raw_inputs,
    output:
        data="resources/data/{dataset}/dataset.nc",
    params:
        dataset=lambda wildcards: canonical(config["datasets"][wildcards.dataset]),
    log:
        "logs/prepare_dataset/{dataset}.log",
    benchmark:
        "results/benchmarks/rules/prepare_dataset/{dataset}.tsv"
    wildcard_constraints:
        dataset="|".join(REAL_DATA or ["__none__"]),
    conda:
        "../../environment.yml"
    script:
        "../scripts/prepare_dataset.py"
