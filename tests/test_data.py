"""The data layer: GMM construction, stand-ins, the real preprocessing on small synthetic raw files, registry."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from vaeinfer.config import ConfigError
from vaeinfer.data import DATASETS, download_dataset, mnist, omniglot, prepare_dataset, standins, uci
from vaeinfer.data.download import ChecksumError
from vaeinfer.data.gmm import (
    ClassGaussians,
    build_class_gmm,
    dequantise,
    fit_class_gaussians,
    inverse_logit_transform,
    logit_transform,
    resize_nearest,
    sample_class_gaussians,
)
from vaeinfer.data.prepared import check_prepared, fraction_split_sizes, maf_split_sizes
from vaeinfer.random import make_generator


def _identical(a, b) -> None:
    assert set(a.data_vars) == set(b.data_vars) and a.attrs == b.attrs
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values)


# --- GMM construction ---------------------------------------------------------------------------------


def test_fit_class_gaussians_recovers_a_known_mixture():
    rng = np.random.default_rng(0)
    means = rng.normal(size=(3, 3)) * 3
    a = rng.normal(size=(3, 3, 3))
    covs = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(3)
    truth = ClassGaussians(np.full(3, 1 / 3), means, covs)
    x, labels = sample_class_gaussians(truth, 30000, generator=make_generator(1))
    assert x.dtype == torch.float32 and labels.dtype == torch.int64 and x.shape == (30000, 3)
    fit = fit_class_gaussians(x.double().numpy(), labels.numpy(), 3)
    np.testing.assert_allclose(fit.weights, 1 / 3)
    for c in range(3):
        n = int((labels == c).sum())
        assert abs(n - 10000) < 5 * np.sqrt(30000 * (1 / 3) * (2 / 3))
        se_mean = np.sqrt(np.diag(covs[c]) / n)
        assert np.all(np.abs(fit.means[c] - means[c]) < 5 * se_mean)
        d = np.sqrt(np.diag(covs[c]))
        se_cov = np.sqrt((np.outer(d, d) ** 2 + covs[c] ** 2) / n)  # Gaussian sampling error of S_ij
        assert np.all(np.abs(fit.covariances[c] - covs[c]) < 5 * se_cov + 1e-4)  # float32 storage of x


def test_fit_needs_more_points_than_dimensions():
    with pytest.raises(ValueError, match="class 1 has 3 points"):
        fit_class_gaussians(np.zeros((13, 4)), np.array([0] * 10 + [1] * 3), 2)


def test_logit_transform_round_trip_and_clipping():
    x = np.linspace(0, 1, 101)
    y = logit_transform(x, 0.15)
    assert np.isclose(y[0], np.log(0.15 / 0.85)) and np.isclose(y[-1], np.log(0.85 / 0.15))
    np.testing.assert_allclose(inverse_logit_transform(y), x, atol=1e-12)
    yt = logit_transform(torch.as_tensor(x), 0.15)
    np.testing.assert_allclose(yt.numpy(), y, atol=1e-12)
    np.testing.assert_allclose(inverse_logit_transform(yt).numpy(), x, atol=1e-12)
    np.testing.assert_array_equal(inverse_logit_transform(np.array([-50.0, 50.0, 1e4])), [0.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="alpha"):
        logit_transform(x, 0.5)


def test_dequantise_is_seeded_and_stays_in_its_bin():
    k = np.array([[0, 1, 16], [5, 16, 0]])
    x = dequantise(k, 17, generator=make_generator(3))
    np.testing.assert_array_equal(np.floor(x * 17), k)
    np.testing.assert_array_equal(x, dequantise(k, 17, generator=make_generator(3)))
    assert not np.array_equal(x, dequantise(k, 17, generator=make_generator(4)))
    with pytest.raises(ValueError, match="0..16"):
        dequantise(np.array([17]), 17, generator=make_generator(0))


@pytest.mark.parametrize(("size_in", "size_out"), [(28, 14), (105, 28), (8, 3), (5, 7)])
def test_resize_nearest_matches_torch_interpolate(size_in, size_out):
    images = np.random.default_rng(0).integers(0, 256, size=(2, size_in, size_in)).astype(np.uint8)
    expected = torch.nn.functional.interpolate(torch.as_tensor(images[:, None]).float(), size=size_out, mode="nearest")
    got = resize_nearest(images, size_out)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected[:, 0].numpy().astype(np.uint8))


def test_split_size_helpers():
    assert fraction_split_sizes(32460, 0.844, 0.006) == (27396, 194, 4870)  # seed000.md §2.3
    assert maf_split_sizes(1000) == (810, 90, 100)


# --- stand-ins ------------------------------------------------------------------------------------------


def test_digits_gmm_standin():
    ds = standins.digits_gmm({"num_train": 4000, "num_val": 100, "num_test": 200, "seed": 1})
    check_prepared(ds)
    assert ds.attrs["kind"] == "stand-in" and ds.attrs["stands_in_for"] == "mnist_gmm"
    assert json.loads(ds.attrs["image_shape_json"]) == [8, 8] and ds.attrs["likelihood"] == "gaussian"
    assert ds.x_train.shape == (4000, 64) and ds.x_val.shape == (100, 64) and ds.x_test.shape == (200, 64)
    assert set(np.unique(ds.label_train.values)) == set(range(10))
    assert ds.gmm_covariances.shape == (10, 64, 64) and np.allclose(ds.gmm_weights, 0.1)
    # The sample mean matches the mixture mean within Monte Carlo error.
    w, mu, cov = ds.gmm_weights.values, ds.gmm_means.values, ds.gmm_covariances.values
    mean = w @ mu
    var = np.einsum("c,cii->i", w, cov) + w @ mu**2 - mean**2
    z = (ds.x_train.values.mean(0) - mean) / np.sqrt(var / 4000)
    assert np.abs(z).max() < 5
    # The true mixture lives in logit space: its means lie inside the transform's range.
    assert np.all(np.abs(mu) <= np.log(0.85 / 0.15) + 1e-9)
    _identical(ds, standins.digits_gmm({"num_train": 4000, "num_val": 100, "num_test": 200, "seed": 1}))
    other = standins.digits_gmm({"num_train": 4000, "num_val": 100, "num_test": 200, "seed": 2})
    assert not np.array_equal(ds.x_train.values, other.x_train.values)
    # Split streams are independent: changing num_train leaves the test split unchanged.
    smaller = standins.digits_gmm({"num_train": 500, "num_val": 100, "num_test": 200, "seed": 1})
    np.testing.assert_array_equal(smaller.x_test.values, ds.x_test.values)


def test_binary_digits_standin():
    ds = standins.binary_digits()
    check_prepared(ds)
    assert (ds.x_train.shape, ds.x_val.shape, ds.x_test.shape) == ((1347, 64), (89, 64), (361, 64))
    assert ds.attrs["stands_in_for"] == "omniglot" and ds.attrs["likelihood"] == "bernoulli"
    values = np.concatenate([ds[f"x_{s}"].values.ravel() for s in ("train", "val", "test")])
    assert set(np.unique(values)) == {0.0, 1.0}
    assert set(np.unique(ds.label_test.values)) <= set(range(10))
    _identical(ds, standins.binary_digits())
    assert not np.array_equal(ds.x_train.values, standins.binary_digits({"seed": 5}).x_train.values)
    with pytest.raises(ConfigError, match="must be 1"):
        standins.binary_digits({"train_fraction": 0.9})


@pytest.mark.parametrize(("name", "n", "d"), [("breast_cancer", 569, 30), ("wine", 178, 13)])
def test_tabular_standins(name, n, d):
    ds = standins.tabular(name)
    check_prepared(ds)
    n_train, n_val, n_test = maf_split_sizes(n, 0.25, 0.1)
    assert (ds.x_train.shape, ds.x_val.shape, ds.x_test.shape) == ((n_train, d), (n_val, d), (n_test, d))
    assert "label_train" not in ds and ds.attrs["image_shape_json"] == "" and ds.attrs["stands_in_for"] == "uci"
    np.testing.assert_allclose(ds.x_train.values.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.values.std(0), 1, atol=1e-5)
    np.testing.assert_array_equal(ds.feature_min.values, ds.x_train.values.min(0))
    _identical(ds, standins.tabular(name))
    with pytest.raises(ConfigError, match="unknown option 'sede'"):
        standins.tabular(name, {"sede": 1})


# --- MNIST-GMM on synthetic IDX files --------------------------------------------------------------------


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def mnist_raw(tmp_path_factory):
    raw = tmp_path_factory.mktemp("data") / "mnist"
    raw.mkdir()
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10), 100)  # 1000 images, 100 per class
    images = np.clip(rng.normal(30 * labels[:, None, None], 40, size=(1000, 28, 28)), 0, 255).astype(np.uint8)
    _write_idx(raw / "train-images-idx3-ubyte.gz", images)
    _write_idx(raw / "train-labels-idx1-ubyte.gz", labels)
    return raw, images, labels


MNIST_SMALL = {"num_train": 300, "num_val": 50, "num_test": 100, "image_size": 7, "seed": 3}


def test_mnist_gmm_prepare(mnist_raw):
    raw, images, labels = mnist_raw
    ds = mnist.prepare(raw, MNIST_SMALL)
    check_prepared(ds)
    assert ds.attrs["kind"] == "real" and ds.attrs["stands_in_for"] == "" and ds.attrs["name"] == "mnist_gmm"
    assert ds.x_train.shape == (300, 49) and ds.x_test.shape == (100, 49) and ds.gmm_means.shape == (10, 49)
    assert json.loads(ds.attrs["image_shape_json"]) == [7, 7]
    # The pipeline: first 99.4 % (994 images), nearest resize 28 -> 7 (every 4th pixel) BEFORE dequantising.
    expected = build_class_gmm(
        images[:994, ::4, ::4], labels[:994], num_levels=256, num_classes=10, alpha=0.15,
        sizes={"train": 300, "val": 50, "test": 100}, seed=3, stream="mnist_gmm",
    )  # fmt: skip
    np.testing.assert_allclose(ds.gmm_means.values, expected.mixture.means)
    np.testing.assert_allclose(ds.gmm_covariances.values, expected.mixture.covariances)
    np.testing.assert_array_equal(ds.x_val.values, expected.x["val"])
    np.testing.assert_array_equal(ds.label_test.values, expected.labels["test"])
    _identical(ds, mnist.prepare(raw, MNIST_SMALL))


def test_mnist_rejects_corrupt_idx(tmp_path, mnist_raw):
    raw, _, _ = mnist_raw
    bad = tmp_path / "mnist"
    bad.mkdir()
    (bad / "train-labels-idx1-ubyte.gz").write_bytes((raw / "train-labels-idx1-ubyte.gz").read_bytes())
    with gzip.open(bad / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + np.array([1000, 28, 28], ">u4").tobytes() + b"\0" * 100)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        mnist.prepare(bad, MNIST_SMALL)


# --- Omniglot on small synthetic zips ----------------------------------------------------------------------


def _png(ink_at: tuple[int, int]) -> tuple[bytes, np.ndarray]:
    """A 105x105 1-bit PNG, white with a black 20x20 stroke block; and the expected 28x28 strokes-are-1 image."""
    pixels = np.ones((105, 105), dtype=bool)
    r, c = ink_at
    pixels[r : r + 20, c : c + 20] = False
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    expected = resize_nearest((~pixels)[None].astype(np.float32), 28)[0]
    return buffer.getvalue(), expected


@pytest.fixture(scope="module")
def omniglot_raw(tmp_path_factory):
    raw = tmp_path_factory.mktemp("data") / "omniglot"
    raw.mkdir()
    expected = []
    k = 0
    for name, alphabets in (("images_background", ["Alpha", "Beta"]), ("images_evaluation", ["Gamma"])):
        with zipfile.ZipFile(raw / f"{name}.zip", "w") as zf:
            for alphabet in alphabets:
                for character in ("character01", "character02"):
                    for i in range(3):
                        data, image = _png((5 * (k % 17), 4 * (k // 17) + 3 * i))
                        zf.writestr(f"{name}/{alphabet}/{character}/{k:04d}_{i:02d}.png", data)
                        expected.append(image.ravel())
                    k += 1
    return raw, np.array(expected)


def test_omniglot_prepare(omniglot_raw):
    raw, expected = omniglot_raw
    config = {"train_fraction": 0.5, "val_fraction": 0.2, "test_fraction": 0.3}
    ds = omniglot.prepare(raw, config)
    check_prepared(ds)
    assert (ds.x_train.shape, ds.x_val.shape, ds.x_test.shape) == ((9, 784), (3, 784), (6, 784))
    assert ds.attrs["likelihood"] == "bernoulli" and json.loads(ds.attrs["image_shape_json"]) == [28, 28]
    x = np.concatenate([ds.x_train.values, ds.x_val.values, ds.x_test.values])
    labels = np.concatenate([ds.label_train.values, ds.label_val.values, ds.label_test.values])
    assert set(np.unique(x)) == {0.0, 1.0}
    # Same images (inverted: strokes are 1; resized nearest), permuted; labels follow their images.
    order = np.lexsort(x.T[::-1])
    np.testing.assert_array_equal(x[order], expected[np.lexsort(expected.T[::-1])])
    for row, label in zip(x, labels, strict=True):
        assert label == np.flatnonzero((expected == row).all(1))[0] // 3
    _identical(ds, omniglot.prepare(raw, config))
    reseeded = omniglot.prepare(raw, {**config, "seed": 1})
    assert not np.array_equal(reseeded.x_train.values, ds.x_train.values)


# --- UCI (MAF recipes) on a small synthetic archive ----------------------------------------------------------


def _uci_members(rng: np.random.Generator) -> dict[str, bytes]:
    n = 400
    s0, s2, s4 = rng.normal(size=(3, n))
    gas = pd.DataFrame({
        "Time": np.arange(n, dtype=float), "Meth": rng.normal(size=n), "Eth": rng.normal(size=n),
        "s0": s0, "s1": s0 + 1e-3 * rng.normal(size=n), "s2": s2, "s3": 2 * s2 + 1e-3 * rng.normal(size=n), "s4": s4,
    })  # fmt: skip
    pickle_buffer = io.BytesIO()
    gas.to_pickle(pickle_buffer)

    power = rng.normal(size=(1000, 8))
    power[:, 7] = np.arange(1000)  # "time"

    def hepmass_csv(rows: int, extra: bool) -> bytes:
        frame = pd.DataFrame({
            "# label": rng.integers(0, 2, size=rows).astype(float),
            "f0": rng.normal(size=rows),
            "f1": rng.choice([-1.0, 0.0, 1.0], size=rows),  # discrete: dropped
            "f2": np.where(np.arange(rows) < 40, 9.0, rng.normal(size=rows)),  # its MAXIMUM repeats > 5 times
            "f3": rng.normal(size=rows),
            "mass": np.full(rows, 1000.0),  # constant: dropped
        })  # fmt: skip
        if extra:
            frame["junk"] = rng.normal(size=rows)
        return frame.to_csv(index=False).encode()

    h5 = io.BytesIO()
    with h5py.File(h5, "w") as f:
        for key, rows in (("train", 50), ("validation", 10), ("test", 20)):
            f[key] = rng.normal(size=(rows, 63)).astype(np.float32)

    def npy(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        np.save(buffer, array)
        return buffer.getvalue()

    return {
        "data/gas/ethylene_CO.pickle": pickle_buffer.getvalue(),
        "data/power/data.npy": npy(power),
        "data/hepmass/1000_train.csv": hepmass_csv(600, extra=False),
        "data/hepmass/1000_test.csv": hepmass_csv(200, extra=True),
        "data/miniboone/data.npy": npy(rng.normal(3, 2, size=(500, 5))),
        "data/BSDS300/BSDS300.hdf5": h5.getvalue(),
        "data/mnist/unused.txt": b"other data sets in the archive are skipped",
    }


@pytest.fixture(scope="module")
def uci_raw(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    raw = root / "uci_maf"
    raw.mkdir()
    members = _uci_members(np.random.default_rng(0))
    with tarfile.open(raw / "data.tar.gz", "w:gz") as tf:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return root, raw, members


def test_uci_gas(uci_raw):
    _, raw, members = uci_raw
    ds = uci.prepare(raw, {"dataset": "gas"})
    check_prepared(ds)
    assert (ds.x_train.shape, ds.x_val.shape, ds.x_test.shape) == ((324, 3), (36, 3), (40, 3))
    # s0 (2 correlations > 0.98) goes first, then s2; s1, s3 and s4 remain, standardised on the whole table.
    frame = pd.read_pickle(io.BytesIO(members["data/gas/ethylene_CO.pickle"]))[["s1", "s3", "s4"]]
    expected = ((frame - frame.mean()) / frame.std()).to_numpy()
    x = np.concatenate([ds.x_train.values, ds.x_val.values, ds.x_test.values])
    np.testing.assert_allclose(x, expected, rtol=1e-5, atol=1e-6)
    assert ds.attrs["name"] == "gas" and ds.attrs["kind"] == "real" and "label_train" not in ds


def test_uci_power(uci_raw):
    _, raw, members = uci_raw
    ds = uci.prepare(raw, {"dataset": "power"})
    assert (ds.x_train.shape, ds.x_val.shape, ds.x_test.shape) == ((810, 6), (90, 6), (100, 6))
    trval = np.concatenate([ds.x_train.values, ds.x_val.values])
    np.testing.assert_allclose(trval.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(trval.std(0), 1, atol=1e-5)
    # Oracle for the column deletions and the noise stream of RandomState(42).
    data = np.load(io.BytesIO(members["data/power/data.npy"]))
    rng = np.random.RandomState(42)
    rng.shuffle(data)
    voltage, active = 0.01 * rng.rand(1000, 1), 0.001 * rng.rand(1000, 1)
    noisy = data[:, [0, 2, 4, 5, 6, 7]] + np.hstack((active, voltage, rng.rand(1000, 3), np.zeros((1000, 1))))
    mu, s = noisy[:900].mean(0), noisy[:900].std(0)
    np.testing.assert_allclose(ds.x_test.values, (noisy[900:] - mu) / s, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("rule", "features"), [("smallest_value", 3), ("most_frequent", 2)])
def test_uci_hepmass(uci_raw, rule, features):
    _, raw, members = uci_raw
    ds = uci.prepare(raw, {"dataset": "hepmass", "hepmass_repeat_rule": rule})
    train = pd.read_csv(io.BytesIO(members["data/hepmass/1000_train.csv"]))
    test = pd.read_csv(io.BytesIO(members["data/hepmass/1000_test.csv"]))
    n_train, n_test = int((train["# label"] == 1).sum()), int((test["# label"] == 1).sum())
    n_val = int(0.1 * n_train)
    assert ds.x_train.shape == (n_train - n_val, features) and ds.x_val.shape == (n_val, features)
    assert ds.x_test.shape == (n_test, features)
    full = np.concatenate([ds.x_train.values, ds.x_val.values])
    np.testing.assert_allclose(full.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(full.std(0, ddof=1), 1, atol=1e-5)
    # f1 (discrete) and mass (constant) are dropped; f2 (a repeated maximum) only under "most_frequent".
    positives = train[train["# label"] == 1]
    kept = ["f0", "f2", "f3"] if rule == "smallest_value" else ["f0", "f3"]
    expected = ((positives[kept] - positives[kept].mean()) / positives[kept].std()).to_numpy()
    np.testing.assert_allclose(full, expected, rtol=1e-5, atol=1e-5)


def test_uci_miniboone_bsds300_and_extracted_layout(uci_raw, tmp_path):
    _, raw, members = uci_raw
    mini = uci.prepare(raw, {"dataset": "miniboone"})
    assert (mini.x_train.shape, mini.x_val.shape, mini.x_test.shape) == ((405, 5), (45, 5), (50, 5))
    trval = np.concatenate([mini.x_train.values, mini.x_val.values])
    np.testing.assert_allclose(trval.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(trval.std(0), 1, atol=1e-5)
    bsds = uci.prepare(raw, {"dataset": "bsds300"})
    with h5py.File(io.BytesIO(members["data/BSDS300/BSDS300.hdf5"]), "r") as f:
        np.testing.assert_array_equal(bsds.x_val.values, f["validation"][:])
        np.testing.assert_array_equal(bsds.x_test.values, f["test"][:])
    # The archive unpacked by hand (raw_dir/data/...) gives the same result, without the archive.
    unpacked = tmp_path / "uci_maf"
    for name in uci.MEMBERS["miniboone"]:
        (unpacked / name).parent.mkdir(parents=True, exist_ok=True)
        (unpacked / name).write_bytes(members[name])
    _identical(mini, uci.prepare(unpacked, {"dataset": "miniboone"}))
    _identical(mini, prepare_dataset("miniboone", raw_dir=tmp_path))
    _identical(mini, uci.prepare(raw, uci.UCIConfig("miniboone")))  # deterministic


def test_uci_archive_without_the_member(tmp_path):
    raw = tmp_path / "uci_maf"
    raw.mkdir()
    with tarfile.open(raw / "data.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("data/other.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(ValueError, match="lacks .*data/gas/ethylene_CO.pickle"):
        uci.prepare(raw, {"dataset": "gas"})


# --- registry -----------------------------------------------------------------------------------------------


def test_registry_entries():
    stand_ins = {n for n, s in DATASETS.items() if s.kind == "stand-in"}
    assert stand_ins == {"digits_gmm", "binary_digits", "breast_cancer", "wine"}
    assert DATASETS["digits_gmm"].stands_in_for == "mnist_gmm" and DATASETS["binary_digits"].stands_in_for == "omniglot"
    assert DATASETS["wine"].stands_in_for == "uci" and DATASETS["gas"].stands_in_for == ""
    for spec in DATASETS.values():
        assert (spec.kind == "real") == bool(spec.remote_files)
        for remote in spec.remote_files:
            assert remote.url.startswith("https://") and remote.algorithm == "md5" and len(remote.digest) == 32
    assert download_dataset("wine") == []  # stand-ins need nothing


def test_prepare_dataset_errors(tmp_path, mnist_raw):
    with pytest.raises(ConfigError, match="unknown dataset 'mnist'.*valid names: .*mnist_gmm"):
        prepare_dataset("mnist")
    with pytest.raises(ConfigError, match="unknown option 'num_trian'"):
        prepare_dataset("digits_gmm", {"num_trian": 5})
    with pytest.raises(ConfigError, match="dataset must be 'gas'"):
        prepare_dataset("gas", {"dataset": "power"}, raw_dir=tmp_path)
    with pytest.raises(FileNotFoundError) as err:
        prepare_dataset("omniglot", raw_dir=tmp_path)
    message = str(err.value)
    for part in (str(tmp_path / "omniglot" / "images_background.zip"), omniglot.REMOTE_FILES[0].url,
                 "68d2efa1b9178cc56df9314c21c6e718", "download_dataset('omniglot'"):  # fmt: skip
        assert part in message
    with pytest.raises(FileNotFoundError, match="data.tar.gz"):
        prepare_dataset("hepmass", raw_dir=tmp_path)
    raw, _, _ = mnist_raw
    with pytest.raises(ChecksumError, match="train-images-idx3-ubyte.gz has md5"):
        prepare_dataset("mnist_gmm", MNIST_SMALL, raw_dir=raw.parent)
    ds = prepare_dataset("mnist_gmm", MNIST_SMALL, raw_dir=raw.parent, verify=False)
    assert ds.attrs["name"] == "mnist_gmm" and json.loads(ds.attrs["config_json"])["seed"] == 3


def test_prepared_datasets_round_trip_through_netcdf(tmp_path):
    from vaeinfer.results.io import open_dataset, write_netcdf

    for ds in (standins.tabular("wine"), standins.digits_gmm({"num_train": 200, "num_val": 10, "num_test": 20})):
        write_netcdf(ds, tmp_path / f"{ds.attrs['name']}.nc")
        back = open_dataset(tmp_path / f"{ds.attrs['name']}.nc")
        check_prepared(back)
        _identical(ds, back)
