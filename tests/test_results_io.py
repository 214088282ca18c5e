"""netCDF round trips, atomic writes, and the string-label truncation regression."""

import numpy as np
import pytest
import xarray as xr

from vaeinfer.results.io import netcdf_safe_attrs, open_dataset, write_netcdf


def test_round_trip_preserves_values_dims_and_attrs(tmp_path):
    ds = xr.Dataset(
        {"jsd": (("sampler", "point"), np.random.default_rng(0).random((2, 3)))},
        coords={"sampler": ["mwg", "lair_iterates"], "point": [0, 1, 2]},
        attrs=netcdf_safe_attrs({"flag": True, "cfg": {"a": 1}, "none": None, "seed": 3}),
    )
    write_netcdf(ds, tmp_path / "a.nc")
    back = open_dataset(tmp_path / "a.nc")
    xr.testing.assert_identical(back, ds)
    assert back.attrs["flag"] == 1 and back.attrs["cfg"] == '{"a": 1}'


def test_longer_labels_survive_merging_files_read_from_disk(tmp_path):
    a = xr.Dataset({"v": ("sampler", [1.0])}, coords={"sampler": ["pseudo_gibbs"]})
    b = xr.Dataset({"v": ("sampler", [2.0])}, coords={"sampler": ["lair_iterates"]})
    write_netcdf(a, tmp_path / "a.nc")
    write_netcdf(b, tmp_path / "b.nc")
    merged = xr.concat([open_dataset(tmp_path / "a.nc"), open_dataset(tmp_path / "b.nc")], "sampler")
    write_netcdf(merged, tmp_path / "m.nc")
    assert list(open_dataset(tmp_path / "m.nc")["sampler"].values) == ["pseudo_gibbs", "lair_iterates"]


def test_identical_datasets_give_identical_bytes(tmp_path):
    ds = xr.Dataset({"v": ("x", np.arange(5.0))}, attrs={"seed": 1})
    write_netcdf(ds, tmp_path / "a.nc")
    write_netcdf(ds, tmp_path / "b.nc")
    assert (tmp_path / "a.nc").read_bytes() == (tmp_path / "b.nc").read_bytes()


def test_failed_write_leaves_no_partial_file(tmp_path):
    ds = xr.Dataset({"v": ("x", np.arange(3.0))}, attrs={"bad": object()})
    with pytest.raises(TypeError):
        write_netcdf(ds, tmp_path / "out.nc")
    assert list(tmp_path.iterdir()) == []


def test_corrupt_file_gives_a_clear_error(tmp_path):
    path = tmp_path / "bad.nc"
    path.write_bytes(b"not a netcdf file")
    with pytest.raises(OSError, match="not a readable netCDF file"):
        open_dataset(path)
    with pytest.raises(FileNotFoundError, match="run the workflow rule"):
        open_dataset(tmp_path / "missing.nc")
