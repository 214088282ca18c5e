# VAE pre-training -> results/checkpoints/<dataset>/ (versioned with DVC, see README).
# params hold only the model's own config: changing a sampler setting never retrains.


rule pretrain_toy_vae:
    # Resumable, as pretrain_vae: an interrupted run continues from results/checkpoints/toy_grid/resume/.
    wildcard_constraints:
        dataset="toy_grid",
    input:
        data="resources/data/{dataset}/dataset.nc",
    output:
        checkpoint="results/checkpoints/{dataset}/vae.pt",
        history="results/checkpoints/{dataset}/training_history.csv",
    params:
        model=lambda wildcards: canonical(config["models"][wildcards.dataset]),
        device=config["device"],
        progress=config.get("progress", True),
    log:
        "logs/pretrain_toy_vae/{dataset}.log",
    benchmark:
        "results/benchmarks/rules/pretrain_toy_vae/{dataset}.tsv"
    threads: 2
    resources:
        gpu=config.get("gpus_per_job", 0),
    conda:
        "../../environment.yml"
    script:
        "../scripts/pretrain_toy_vae.py"


rule pretrain_vae:
    # The real-data experiments' VAEs (ELBO with the STL gradient). Resumable: an interrupted
    # run continues from results/checkpoints/<dataset>/resume/ when rerun.
    input:
        data="resources/data/{dataset}/dataset.nc",
    output:
        checkpoint="results/checkpoints/{dataset}/vae.pt",
        history="results/checkpoints/{dataset}/training_history.csv",
    params:
        model=lambda wildcards: canonical(config["models"][wildcards.dataset]),
        device=config["device"],
        progress=config.get("progress", True),
    log:
        "logs/pretrain_vae/{dataset}.log",
    benchmark:
        "results/benchmarks/rules/pretrain_vae/{dataset}.tsv"
    wildcard_constraints:
        dataset="|".join(REAL_DATA or ["__none__"]),
    threads: 2
    resources:
        gpu=config.get("gpus_per_job", 0),
    conda:
        "../../environment.yml"
    script:
        "../scripts/pretrain_vae.py"


rule pretrain_classifier:
    # MNIST-GMM's FID feature network, trained on the labelled mixture samples.
    input:
        data="resources/data/{dataset}/dataset.nc",
    output:
        checkpoint="results/checkpoints/{dataset}/classifier.pt",
        history="results/checkpoints/{dataset}/classifier_history.csv",
    params:
        model=lambda wildcards: canonical(PLANS["mnist_gmm"].config.classifier),
        device=config["device"],
        progress=config.get("progress", True),
    log:
        "logs/pretrain_classifier/{dataset}.log",
    benchmark:
        "results/benchmarks/rules/pretrain_classifier/{dataset}.tsv"
    wildcard_constraints:
        dataset=PLANS["mnist_gmm"].config.dataset if "mnist_gmm" in PLANS else "__none__",
    threads: 2
    resources:
        gpu=config.get("gpus_per_job", 0),
    conda:
        "../../environment.yml"
    script:
        "../scripts/pretrain_classifier.py"
