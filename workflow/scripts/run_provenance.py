"""Rule run_provenance: the software versions, git commit and the full config of this run."""

import json

import yaml

from vaeinfer.devices import resolve_device
from vaeinfer.results.io import atomic_path
from vaeinfer.results.provenance import git_commit
from vaeinfer.results.software import software_table
from vaeinfer.workflow import script


def main(smk):
    table = software_table(git_commit=git_commit(), device=str(resolve_device(smk.params.device)))
    with atomic_path(smk.output.software) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(smk.output.config) as tmp:
        tmp.write_text(yaml.safe_dump(json.loads(smk.params.config_text), sort_keys=False, allow_unicode=True))


script(snakemake, main)  # noqa: F821
