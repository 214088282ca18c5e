"""Rule download_raw: one raw file of a real dataset, checksum-verified (no partial file on failure)."""

from pathlib import Path

from vaeinfer.data import DATASETS
from vaeinfer.data.download import fetch
from vaeinfer.workflow import script


def main(smk):
    out = Path(smk.output.raw)
    remotes = {(spec.raw_subdir, r.filename): r for spec in DATASETS.values() for r in spec.remote_files}
    fetch(remotes[(smk.wildcards.subdir, smk.wildcards.filename)], out.parent, progress=smk.params.progress)


script(snakemake, main)  # noqa: F821
