"""The contract every registered sampler keeps, parametrised over the registry.

* observed entries never change, and every stored draw is finite;
* shapes follow the documented layout (draw, point, chain, feature);
* the same seed gives bit-identical output, a different seed a different one;
* with per-point streams (:class:`vaeinfer.random.PointStreams`), running B data points together
  gives each point exactly the result it gets when run alone with its own stream.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vaeinfer
from vaeinfer import samplers
from vaeinfer.random import PointStreams

NUM_ITERATIONS = 30
NUM_CHAINS = 4

LAIR_WARMUP = {
    "sampler": "lair", "num_iterations": 5, "particles_per_chain": 4, "num_prior_components": NUM_CHAINS,
    "resampling": "grouped", "group_size": 5, "weighting": "dmis_within_groups",
}

#: Registry entries with the options they are tested with (every entry must appear; see below),
#: plus the paper's variants that change the code path.
CASES: dict[str, tuple[str, dict]] = {
    "marginal": ("marginal", {}),
    "pseudo_gibbs": ("pseudo_gibbs", {}),
    "pseudo_gibbs_batch_clip": ("pseudo_gibbs", {"clip": "batch_data"}),
    "pseudo_gibbs_dataset_clip": ("pseudo_gibbs", {"clip": "dataset", "clip_min": (-1.0,) * 4, "clip_max": (1.0,) * 4}),
    "mwg": ("mwg", {}),
    "ac_mwg": ("ac_mwg", {"prior_mixture_probability": 0.05}),
    "lair": ("lair", {"num_prior_components": 1, "num_final_samples": 25}),
    "importance_resampling": ("importance_resampling", {"num_final_samples": 25}),
    "ac_mwg_mwg_target": ("ac_mwg", {"target": "mwg", "max_history": 8}),
    "ac_mwg_mwg_target_q3": ("ac_mwg", {"target": "mwg_authors_q3"}),
    "lair_grouped_systematic": ("lair", {"num_prior_components": 2, "resampling": "grouped", "group_size": 3,
                                         "weighting": "dmis_within_groups", "resampling_method": "systematic"}),
    "lair_local_smis": ("lair", {"num_prior_components": 1, "num_samples_per_component": 3,
                                 "resampling": "local", "weighting": "smis"}),
    "mwg_lair_init": ("mwg", {"warmup": LAIR_WARMUP}),
    "ac_mwg_lair_init_q1": ("ac_mwg", {"warmup": {**LAIR_WARMUP, "chain_init": "authors_q1"}}),
    "lair_sgd_map": ("lair", {"initialisation": {"method": "sgd_map", "num_steps": 5, "learning_rate": 0.01}}),
    "pseudo_gibbs_warmup": ("pseudo_gibbs", {"warmup": {"sampler": "pseudo_gibbs", "num_iterations": 3}}),
}


#: The authors' ``batch_data`` clipping takes its range from the whole batch of observed values,
#: so it depends on which points share a batch by definition (seed000 §1.1).
BATCH_DEPENDENT = {"pseudo_gibbs_batch_clip"}


def test_every_registered_sampler_is_covered():
    assert set(samplers.SAMPLERS) <= {name for name, _ in CASES.values()}


def _sample(model, x, mask, case, generator):
    name, options = CASES[case]
    return vaeinfer.sample(model, x, mask, name, num_iterations=NUM_ITERATIONS, num_chains=NUM_CHAINS,
                           generator=generator, **options)


def _arrays(ds) -> dict[str, np.ndarray]:
    out = {"imputations": ds["imputations"].values, "latents": ds["latents"].values}
    if "resampled_imputations" in ds:
        out["resampled_imputations"] = ds["resampled_imputations"].values
    return out


@pytest.fixture(scope="module")
def runs(linear_gaussian_model, linear_gaussian_data):
    """Each case run once on all rows with per-point streams keyed (seed 7, row)."""
    x, mask = linear_gaussian_data
    rows = list(range(x.shape[0]))
    return {case: _sample(linear_gaussian_model, x, mask, case, PointStreams.from_seed(7, rows)) for case in CASES}


@pytest.mark.parametrize("case", list(CASES))
def test_observed_entries_never_change_and_shapes_follow_the_layout(case, runs, linear_gaussian_data):
    x, mask = linear_gaussian_data
    ds = runs[case]
    imp = ds["imputations"]
    assert imp.dims == ("draw", "point", "chain", "feature")
    assert imp.shape[1:] == (x.shape[0], NUM_CHAINS, x.shape[1])
    assert imp.shape[0] == 1 + ds.attrs["num_warmup_draws"] + NUM_ITERATIONS
    assert ds["latents"].dims == ("draw", "point", "chain", "latent")
    obs, data = mask.numpy(), x.numpy()
    for name, arr in _arrays(ds).items():
        assert np.isfinite(arr).all(), name
        if name == "latents":
            continue
        for row in range(x.shape[0]):  # imputations (draw, point, chain, D); resampled (resample, point, D)
            kept = arr[:, row][..., obs[row]]
            np.testing.assert_array_equal(kept, np.broadcast_to(data[row, obs[row]], kept.shape), err_msg=name)


@pytest.mark.parametrize("case", list(CASES))
def test_same_seed_same_bytes_other_seed_other_draws(case, runs, linear_gaussian_model, linear_gaussian_data):
    x, mask = linear_gaussian_data
    rows = list(range(x.shape[0]))
    again = _sample(linear_gaussian_model, x, mask, case, PointStreams.from_seed(7, rows))
    other = _sample(linear_gaussian_model, x, mask, case, PointStreams.from_seed(8, rows))
    for name, arr in _arrays(runs[case]).items():
        assert np.array_equal(arr, _arrays(again)[name]), name
        assert not np.array_equal(arr, _arrays(other)[name]), name
    # A torch.Generator works too, and is as reproducible.
    first = _sample(linear_gaussian_model, x, mask, case, torch.Generator().manual_seed(3))
    second = _sample(linear_gaussian_model, x, mask, case, torch.Generator().manual_seed(3))
    assert np.array_equal(first["imputations"].values, second["imputations"].values)


@pytest.mark.parametrize("case", [c for c in CASES if c not in BATCH_DEPENDENT])
def test_points_together_equal_points_alone_with_their_own_streams(
    case, runs, linear_gaussian_model, linear_gaussian_data
):
    x, mask = linear_gaussian_data
    together = _arrays(runs[case])
    for row in range(x.shape[0]):
        alone = _arrays(_sample(linear_gaussian_model, x[row : row + 1], mask[row : row + 1], case,
                                PointStreams.from_seed(7, [row])))
        for name, arr in together.items():  # the point axis is axis 1 of every array
            np.testing.assert_array_equal(arr[:, row : row + 1], alone[name], err_msg=f"{case} {name} row {row}")


@pytest.mark.parametrize("case", ["ac_mwg", "lair", "mwg_lair_init", "marginal"])
def test_storing_only_the_last_iterate_keeps_exactly_the_last_iterate(
    case, runs, linear_gaussian_model, linear_gaussian_data
):
    x, mask = linear_gaussian_data
    name, options = CASES[case]
    last = vaeinfer.sample(linear_gaussian_model, x, mask, name, num_iterations=NUM_ITERATIONS,
                           num_chains=NUM_CHAINS, generator=PointStreams.from_seed(7, list(range(x.shape[0]))),
                           store="last", **options)
    assert last.sizes["draw"] == 1 and last.attrs["num_warmup_draws"] == 0
    everything = _arrays(runs[case])
    np.testing.assert_array_equal(last["imputations"].values[0], everything["imputations"][-1])
    np.testing.assert_array_equal(last["latents"].values[0], everything["latents"][-1])
    if "resampled_imputations" in everything:
        np.testing.assert_array_equal(last["resampled_imputations"].values, everything["resampled_imputations"])
