# snakemake --report results/report.html: the front page; figures and tables register themselves
# with report(..., caption=...) in figures.smk.


report: "../report/workflow.rst"
