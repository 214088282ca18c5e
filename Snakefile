# vaeinfer: reproduction workflow. This file is the table of contents; rules live in
# workflow/rules/, their scripts in workflow/scripts/, the library in src/vaeinfer/.
#   snakemake --cores all                                 # default: CPU, offline, minutes
#   snakemake --cores all --configfile config/paper.yaml  # paper sizes (GPU)
#   snakemake --report results/report.html                # after a run


from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/masks.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/grids.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        all_targets(),
    default_target: True
    localrule: True
