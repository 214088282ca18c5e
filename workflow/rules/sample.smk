# Sampler runs -> results/runs/<experiment>/<dataset>/<run>/seed<k>/samples.nc
# params hold only this run's own config: editing one sampler reruns only that sampler.


rule run_sampler:
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
