# snakemake --report results/report.html: the front page; figures and tables register themselves
# with report(..., caption=...) in figures.smk.


report: "../report/workflow.rst"


rule run_provenance:
    # What produced this run, for reviewers: software versions, git commit, device, and the
    # configuration as Snakemake saw it (config/config.yaml merged with any --configfile).
    output:
        software=report(
            "results/provenance/software.csv",
            caption="../report/software.rst",
            category="Provenance",
        ),
        config=report(
            "results/provenance/config.yaml",
            caption="../report/config.rst",
            category="Provenance",
        ),
    params:
        device=config["device"],
        config_text=lambda wildcards: canonical(config),
    log:
        "logs/run_provenance.log",
    conda:
        "../../environment.yml"
    script:
        "../scripts/run_provenance.py"
