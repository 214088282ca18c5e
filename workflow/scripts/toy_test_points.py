"""Rule toy_test_points: the 14 hand-made points with NaN at the missing coordinate."""

from vaeinfer.experiments import toy_pitfalls as toy
from vaeinfer.results.io import write_netcdf
from vaeinfer.workflow import script


def main(smk):
    write_netcdf(toy.make_points(tuple(smk.params.values)), smk.output.points)


script(snakemake, main)  # noqa: F821
