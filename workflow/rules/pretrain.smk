# VAE pre-training -> results/checkpoints/<dataset>/ (versioned with DVC, see README).
# params hold only the model's own config: changing a sampler setting never retrains.


rule pretrain_toy_vae:
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
