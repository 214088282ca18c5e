"""The real-data experiments' glue: config plans, test points, imputation slots and per-run metrics.

The metric functions themselves are tested against exact answers in test_metrics_real.py; here
the experiments are fed imputations whose answer is known (exact conditional draws, the truth
itself) to check that the glue scores the right numbers.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
import yaml

from vaeinfer import random as vrandom
from vaeinfer.config import ConfigError
from vaeinfer.data.gmm import ClassGaussians
from vaeinfer.data.prepared import prepared_dataset
from vaeinfer.experiments import mnist_gmm, omniglot, uci
from vaeinfer.experiments.common import completed_sets, slot_rows
from vaeinfer.experiments.plan import make_plans
from vaeinfer.metrics.gmm import sample_conditional

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def default_config():
    return yaml.safe_load((ROOT / "config" / "config.yaml").read_text())


def test_default_plans_cover_the_three_experiments(default_config):
    plans = make_plans(default_config)
    assert list(plans) == ["mnist_gmm", "omniglot", "uci"]
    assert plans["mnist_gmm"].tasks == [("digits_gmm", "handmade")] and plans["mnist_gmm"].store == "all"
    assert [m for _, m in plans["omniglot"].tasks] == ["quadrants1", "quadrants2", "quadrants3"]
    assert plans["uci"].tasks == [("breast_cancer", "mcar50"), ("wine", "mcar50")]
    assert plans["uci"].store == "last" and "lair_iterates" in plans["uci"].rows
    assert len(plans["uci"].run_paths("samples")) == 2 * 2 * len(plans["uci"].runs)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda c: c["experiments"]["uci"]["samplers"]["mwg"].update(sampler="mwgg"), "unknown sampler 'mwgg'"),
        (lambda c: c["experiments"]["uci"].update(datasets=["iris"]), "uses datasets ['iris']"),
        (lambda c: c["experiments"]["omniglot"].update(missingness=["half"]), "unknown levels ['half']"),
        (lambda c: c["experiments"]["uci"].update(missing_fraction=1.5), "missing_fraction must be in (0, 1)"),
        (lambda c: c["experiments"]["mnist_gmm"]["points"][0].update(blocks=[]), "unknown option 'blocks'"),
        (lambda c: c["experiments"]["mnist_gmm"].update(seeds=[]), "seeds must list at least one seed"),
    ],
)
def test_bad_experiment_configs_name_the_key(default_config, edit, message):
    config = copy.deepcopy(default_config)
    edit(config)
    with pytest.raises(ConfigError) as err:
        make_plans(config)
    assert message in str(err.value)


def test_disabled_experiments_are_left_out(default_config):
    config = copy.deepcopy(default_config)
    config["experiments"]["omniglot"]["enabled"] = False
    assert "omniglot" not in make_plans(config)


# --- a small Gaussian-mixture dataset in the prepared format ---------------------------------------


@pytest.fixture(scope="module")
def gmm_dataset() -> xr.Dataset:
    """A 3-class mixture on 2x2 images (D = 4), with its train/test samples."""
    g = torch.Generator().manual_seed(0)
    means = torch.tensor([[2.0, 0.0, 0.0, 1.0], [-1.0, 1.0, 0.5, 0.0], [0.0, -2.0, 1.0, -1.0]], dtype=torch.float64)
    a = torch.randn(3, 4, 4, generator=g, dtype=torch.float64)
    covs = a @ a.transpose(1, 2) / 4 + 0.3 * torch.eye(4, dtype=torch.float64)
    weights = torch.full((3,), 1 / 3, dtype=torch.float64)
    labels = torch.multinomial(weights, 300, replacement=True, generator=g)
    chol = torch.linalg.cholesky(covs)
    x = means[labels] + (chol[labels] @ torch.randn(300, 4, 1, generator=g, dtype=torch.float64)).squeeze(-1)
    x = x.float().numpy()
    return prepared_dataset(
        name="toy_gmm", kind="stand-in", stands_in_for="mnist_gmm", likelihood="gaussian", image_shape=(2, 2),
        description="test mixture", config=None, x={"train": x[:200], "val": x[200:250], "test": x[250:]},
        labels={"train": labels[:200].numpy(), "val": labels[200:250].numpy(), "test": labels[250:].numpy()},
        gmm=ClassGaussians(weights.numpy(), means.numpy(), covs.numpy()),
    )


def _samples(imputations: np.ndarray, points: xr.Dataset, sampler: str = "mwg") -> xr.Dataset:
    """A run file holding (draw, point, chain, feature) imputations."""
    ds = xr.Dataset({"imputations": (("draw", "point", "chain", "feature"), imputations.astype(np.float32))},
                    coords={"point": points["point"].values})
    ds.attrs["sampler"] = sampler
    return ds


def test_handmade_points_observe_only_their_blocks(gmm_dataset):
    points = mnist_gmm.make_points(gmm_dataset, mnist_gmm.parse_points(
        [{"index": 3, "observed_blocks": [[0, 0, 1, 2]]}, {"index": 7, "observed_blocks": [[1, 1, 1, 1]]}]))
    np.testing.assert_array_equal(points["observed_mask"].values, [[1, 1, 0, 0], [0, 0, 0, 1]])
    assert np.isnan(points["x"].values[0, 2:]).all() and not np.isnan(points["x"].values[0, :2]).any()
    np.testing.assert_array_equal(points["x_true"].values[1], gmm_dataset["x_test"].values[7])
    with pytest.raises(ValueError, match="outside the test split"):
        mnist_gmm.make_points(gmm_dataset, mnist_gmm.parse_points([{"index": 999, "observed_blocks": [[0, 0, 1, 1]]}]))


class _Features(torch.nn.Module):
    """A fixed linear feature map standing in for the classifier and the VAE encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([[1.0, 0.5, 0.0], [0.0, 1.0, 0.3], [0.2, 0.0, 1.0],
                                                       [0.4, -0.3, 0.5]]), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight

    encoder_features = forward


def test_exact_conditional_imputations_score_near_zero_and_beat_marginal_ones(gmm_dataset):
    points = mnist_gmm.make_points(gmm_dataset, mnist_gmm.parse_points(
        [{"index": i, "observed_blocks": [[0, 0, 1, 1]]} for i in range(4)]))
    x = torch.as_tensor(np.nan_to_num(points["x"].values), dtype=torch.float64)
    mask = torch.as_tensor(points["observed_mask"].values.astype(bool))
    mix = (gmm_dataset["gmm_weights"].values, gmm_dataset["gmm_means"].values, gmm_dataset["gmm_covariances"].values)
    n = 4000
    exact = sample_conditional(x, mask, *mix, n, generator=vrandom.make_generator(1)).numpy()  # (n, B, D)
    exact_run = _samples(exact.reshape(n // 2, 2, *exact.shape[1:]).transpose(0, 2, 1, 3), points)
    cfg = mnist_gmm.MetricsConfig(fid_max_samples=n, reference_seed=5)
    features = _Features()
    good = mnist_gmm.run_metrics(exact_run, points, gmm_dataset, "exact", classifier=features, vae=features,
                                 config=cfg)
    # Rao-Blackwellised estimate from n exact draws: its error is O(1/sqrt(n)); the JSD of two
    # categoricals this close is O(error^2) ~ 1e-4, far below any sampler failure (0.05 - 0.69).
    assert float(good["jsd"].max()) < 2e-3
    truth = mnist_gmm.true_class_posterior(gmm_dataset, points)
    np.testing.assert_allclose(good["class_posterior"].values[0], truth, atol=5 * 0.5 / np.sqrt(n))
    # Imputations from the *unconditional* mixture with x_o kept: a wrong conditional.
    labels = torch.multinomial(torch.as_tensor(mix[0]), n * 4, replacement=True, generator=vrandom.make_generator(2))
    chol = torch.linalg.cholesky(torch.as_tensor(mix[2]))
    noise = torch.randn(n * 4, 4, 1, generator=vrandom.make_generator(3), dtype=torch.float64)
    marginal = (torch.as_tensor(mix[1])[labels] + (chol[labels] @ noise).squeeze(-1)).reshape(n, 4, 4).numpy()
    marginal = np.where(mask.numpy(), x.numpy(), marginal)
    bad = mnist_gmm.run_metrics(_samples(marginal[:, :, None], points), points, gmm_dataset, "marginal",
                                classifier=features, vae=features, config=cfg)
    assert float(bad["jsd"].mean()) > 10 * float(good["jsd"].mean())
    assert float(bad["fid_encoder"].mean()) > float(good["fid_encoder"].mean())


def test_slots_are_chains_of_the_last_iterate_or_final_draws():
    imp = np.arange(3 * 2 * 4 * 1, dtype=np.float32).reshape(3, 2, 4, 1)  # draw, point, chain, feature
    ds = xr.Dataset({"imputations": (("draw", "point", "chain", "feature"), imp)})
    np.testing.assert_array_equal(slot_rows(ds, "r", pool_all_draws=False)["r"], imp[-1].transpose(1, 0, 2))
    assert slot_rows(ds, "r", pool_all_draws=True)["r"].shape == (12, 2, 1)
    ds["resampled_imputations"] = (("resample", "point", "feature"), np.zeros((5, 2, 1), np.float32))
    ds.attrs["sampler"] = "lair"
    rows = slot_rows(ds, "r", pool_all_draws=False)
    assert set(rows) == {"r", "r_iterates"} and rows["r"].shape == (5, 2, 1) and rows["r_iterates"].shape == (4, 2, 1)


def _tabular(n: int = 40, d: int = 3) -> xr.Dataset:
    x = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    return prepared_dataset(name="tab", kind="stand-in", stands_in_for="uci", likelihood="gaussian", image_shape=None,
                            description="", config=None, x={"train": x, "val": x[:5], "test": x})


def test_uci_points_complete_rows_keep_their_values_and_the_truth_scores_zero():
    data = _tabular()
    points = uci.make_points(data, missing_fraction=0.3, mask_seed=1, max_points=None)
    sampled = points["sampled"].values.astype(bool)
    assert (~sampled).any(), "some rows should have nothing missing at 30% MCAR with D = 3"
    # exactly 30% of the 40 x 3 entries are missing, counting the rows dropped for having nothing observed
    dropped = 40 - points.sizes["point"]
    assert int((points["observed_mask"].values == 0).sum()) + 3 * dropped == round(0.3 * 40 * 3)
    assert points["observed_mask"].values.any(axis=1).all()
    truth = points["x_true"].values[sampled]
    run = xr.Dataset({"imputations": (("draw", "point", "chain", "feature"),
                                      np.broadcast_to(truth[None, :, None], (1, truth.shape[0], 2, 3)).copy())},
                     coords={"point": points["point"].values[sampled]})
    sets = completed_sets(run, points, "r")["r"]
    np.testing.assert_array_equal(sets[0], points["x_true"].values)
    metrics = uci.run_metrics(run, points, "r", config=uci.MetricsConfig(blur_rows=40))
    assert float(abs(metrics["sinkhorn"]).max()) < 1e-4 and float(abs(metrics["gaussian_mmd"]).max()) < 1e-6
    with pytest.raises(ValueError, match="differ from the points file"):
        completed_sets(run.isel(point=slice(1, None)), points, "r")


def test_omniglot_perfect_imputations_have_f1_one():
    rng = np.random.default_rng(0)
    images = (rng.random((30, 16)) < 0.4).astype(np.float32)
    data = prepared_dataset(name="bin", kind="stand-in", stands_in_for="omniglot", likelihood="bernoulli",
                            image_shape=(4, 4), description="", config=None,
                            x={"train": images, "val": images[:3], "test": images})
    points = omniglot.make_points(data, "quadrants2", mask_seed=3, max_points=None)
    assert ((points["observed_mask"].values == 0).sum(1) == 8).all()
    truth = points["x_true"].values
    run = xr.Dataset({"imputations": (("draw", "point", "chain", "feature"), truth[None, :, None].repeat(2, 2))},
                     coords={"point": points["point"].values})
    metrics = omniglot.run_metrics(run, points, "r", vae=_Linear16(), config=omniglot.MetricsConfig(ssim_kernel_size=3))
    assert float(metrics["f1"].squeeze()) == 1.0 and float(metrics["ssim"].squeeze()) == pytest.approx(1.0)
    assert float(abs(metrics["fid"]).max()) < 1e-6


class _Linear16(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.eye(16)[:, :4] + 0.1, requires_grad=False)

    def encoder_features(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight
