"""Metrics of the real-data experiments (spec sections 3.2-3.4): exact answers wherever possible."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn.metrics import f1_score
from torchmetrics.functional.image import structural_similarity_index_measure

from vaeinfer.metrics import (
    categorical_divergences,
    class_posterior_full,
    class_posterior_observed,
    energy_distance,
    f1_missing,
    frechet_distance,
    gaussian_frechet,
    gaussian_mmd,
    gaussian_window_size,
    pick_mmd_blur,
    pick_sinkhorn_blur,
    rao_blackwell_class_posterior,
    resolve_backend,
    sample_conditional,
    sinkhorn_divergence,
    ssim,
)

# --- MNIST-GMM (section 3.2) -----------------------------------------------------------------------

C, D = 3, 4


@pytest.fixture(scope="module")
def gmm():
    rng = np.random.default_rng(20230808)
    weights = rng.dirichlet(np.full(C, 2.0))
    means = rng.normal(0.0, 1.5, size=(C, D))
    factors = rng.normal(size=(C, D, D))
    covariances = factors @ factors.transpose(0, 2, 1) + 0.3 * np.eye(D)
    return weights, means, covariances


@pytest.fixture(scope="module")
def points():
    """Masks: a single observed dim (twice, different dims), two rows sharing a mask, nothing
    observed, everything observed; NaN where missing."""
    rng = np.random.default_rng(7)
    mask = np.array(
        [
            [1, 0, 0, 0],
            [1, 1, 0, 1],
            [1, 1, 0, 1],
            [0, 0, 0, 0],
            [1, 1, 1, 1],
            [0, 1, 1, 0],
            [0, 0, 0, 1],
            [1, 1, 0, 1],
        ],
        dtype=bool,
    )
    x = rng.normal(0.0, 2.0, size=mask.shape)
    x[~mask] = np.nan
    return x, mask


def brute_force_posterior(x, mask, weights, means, covariances):
    out = np.empty((x.shape[0], C))
    for b in range(x.shape[0]):
        o = np.nonzero(mask[b])[0]
        log_joint = np.log(weights).copy()
        if o.size:
            for c in range(C):
                log_joint[c] += stats.multivariate_normal(means[c, o], covariances[c][np.ix_(o, o)]).logpdf(x[b, o])
        out[b] = np.exp(log_joint - np.logaddexp.reduce(log_joint))
    return out


def conditional_moments(x, mask, weights, means, covariances):
    """Closed-form mean (D,) and covariance (D, D) of p(x | x_o) per row (observed dims: x_o, zero variance)."""
    post = brute_force_posterior(x, mask, weights, means, covariances)
    result = []
    for b in range(x.shape[0]):
        o, m = np.nonzero(mask[b])[0], np.nonzero(~mask[b])[0]
        comp_means, comp_covs = np.zeros((C, D)), np.zeros((C, D, D))
        for c in range(C):
            S = covariances[c]
            comp_means[c, o] = x[b, o]
            if o.size:
                gain = np.linalg.solve(S[np.ix_(o, o)], S[np.ix_(o, m)]).T
                comp_means[c, m] = means[c, m] + gain @ (x[b, o] - means[c, o])
                comp_covs[c][np.ix_(m, m)] = S[np.ix_(m, m)] - gain @ S[np.ix_(o, m)]
            else:
                comp_means[c], comp_covs[c] = means[c], S
        mean = post[b] @ comp_means
        second = np.einsum("c,cij->ij", post[b], comp_covs + comp_means[:, :, None] * comp_means[:, None, :])
        result.append((mean, second - np.outer(mean, mean)))
    return result


def test_class_posterior_observed_matches_bayes(gmm, points):
    x, mask = points
    expected = brute_force_posterior(x, mask, *gmm)
    got = class_posterior_observed(x, mask, *gmm)
    assert isinstance(got, np.ndarray) and got.shape == (x.shape[0], C)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(got[3], gmm[0] / gmm[0].sum(), rtol=1e-12)  # nothing observed: the weights
    # torch in, torch out; the result does not depend on which other rows are in the batch
    got_t = class_posterior_observed(torch.as_tensor(x), torch.as_tensor(mask), *(torch.as_tensor(a) for a in gmm))
    assert isinstance(got_t, torch.Tensor) and got_t.dtype == torch.float64
    np.testing.assert_allclose(got_t.numpy(), expected, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(class_posterior_observed(x[5:6], mask[5:6], *gmm), expected[5:6], rtol=1e-10)


def test_class_posterior_full_matches_bayes(gmm):
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 2.0, size=(5, 7, D))
    full = np.ones((35, D), dtype=bool)
    expected = brute_force_posterior(x.reshape(-1, D), full, *gmm).reshape(5, 7, C)
    np.testing.assert_allclose(class_posterior_full(x, *gmm), expected, rtol=1e-10, atol=1e-13)
    for max_elements in (1, 50):  # chunks of one row and of a few rows give the same answer
        np.testing.assert_allclose(class_posterior_full(x, *gmm, max_elements=max_elements), expected, rtol=1e-10)
    # agrees with the observed-data posterior when everything is observed
    np.testing.assert_allclose(class_posterior_observed(x[0], np.ones((7, D), bool), *gmm), expected[0], rtol=1e-10)


def test_sample_conditional_moments_and_observed_entries(gmm, points):
    x, mask = points
    S = 20_000
    samples = sample_conditional(x, mask, *gmm, S, generator=torch.Generator().manual_seed(11))
    assert samples.shape == (S, x.shape[0], D) and samples.dtype == torch.float64
    s = samples.numpy()
    assert np.array_equal(s[:, mask], np.broadcast_to(x[mask], (S, int(mask.sum()))))  # observed: untouched
    assert np.isfinite(s).all()
    for b, (mean, cov) in enumerate(conditional_moments(x, mask, *gmm)):
        m = ~mask[b]
        if not m.any():
            continue
        sb = s[:, b][:, m]
        se_mean = np.sqrt(np.diag(cov)[m] / S)
        assert np.all(np.abs(sb.mean(0) - mean[m]) <= 5 * se_mean), b
        centred = sb - sb.mean(0)
        products = centred[:, :, None] * centred[:, None, :]
        se_cov = products.std(0, ddof=1) / np.sqrt(S)
        assert np.all(np.abs(products.mean(0) - cov[np.ix_(m, m)]) <= 5 * se_cov), b


def test_sample_conditional_is_deterministic_given_the_generator(gmm, points):
    x, mask = points
    a = sample_conditional(x, mask, *gmm, 50, generator=torch.Generator().manual_seed(5))
    b = sample_conditional(x, mask, *gmm, 50, generator=torch.Generator().manual_seed(5))
    c = sample_conditional(x, mask, *gmm, 50, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    with pytest.raises(TypeError, match="torch.Generator"):
        sample_conditional(x, mask, *gmm, 5, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="num_samples"):
        sample_conditional(x, mask, *gmm, 0, generator=torch.Generator())


def test_rao_blackwell_identity(gmm, points):
    """E_{p(x_m | x_o)}[p(c | x_o, x_m)] = p(c | x_o): the RB estimate from exact conditional samples
    is within 5 Monte Carlo standard errors of the truth (exact where nothing is missing)."""
    x, mask = points
    N = 4000
    imputations = sample_conditional(x, mask, *gmm, N, generator=torch.Generator().manual_seed(2))
    per_draw = class_posterior_full(imputations, *gmm).numpy()  # (N, B, C)
    estimate = rao_blackwell_class_posterior(imputations, *gmm)
    np.testing.assert_allclose(estimate.numpy(), per_draw.mean(0), rtol=1e-12, atol=1e-15)
    truth = class_posterior_observed(x, mask, *gmm)
    se = per_draw.std(0, ddof=1) / np.sqrt(N)
    assert np.all(np.abs(estimate.numpy() - truth) <= 5 * se + 1e-12)
    np.testing.assert_allclose(estimate.numpy()[4], truth[4], rtol=1e-10)  # fully observed row


def test_gmm_input_errors(gmm, points):
    x, mask = points
    w, mu, cov = gmm
    with pytest.raises(ValueError, match="observed entries"):
        bad = x.copy()
        bad[0, 0] = np.nan
        class_posterior_observed(bad, mask, *gmm)
    with pytest.raises(ValueError, match="observed_mask has shape"):
        class_posterior_observed(x, mask[:, :2], *gmm)
    with pytest.raises(ValueError, match="shape"):
        class_posterior_observed(x[:, :3], mask[:, :3], *gmm)
    with pytest.raises(ValueError, match="inconsistent"):
        class_posterior_observed(x, mask, w[:2], mu, cov)
    with pytest.raises(ValueError, match="positive definite"):
        class_posterior_observed(x, mask, w, mu, cov * np.array([1.0, -1.0, 1.0])[:, None, None])
    with pytest.raises(ValueError, match="complete"):
        class_posterior_full(x, *gmm)
    with pytest.raises(ValueError, match=r"\(N, B, D\)"):
        rao_blackwell_class_posterior(np.zeros((3, D)), *gmm)


def test_categorical_divergences_closed_form():
    p = np.array([[0.5, 0.5], [0.2, 0.8]])
    q = np.array([[0.25, 0.75], [0.2, 0.8]])
    out = categorical_divergences(p, q)
    kl_pq = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    kl_qp = 0.25 * math.log(0.25 / 0.5) + 0.75 * math.log(0.75 / 0.5)
    m = (0.375, 0.625)
    jsd = 0.5 * (0.5 * math.log(0.5 / m[0]) + 0.5 * math.log(0.5 / m[1])) + 0.5 * (
        0.25 * math.log(0.25 / m[0]) + 0.75 * math.log(0.75 / m[1])
    )
    np.testing.assert_allclose(out["kl_pq"], [kl_pq, 0.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out["kl_qp"], [kl_qp, 0.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(out["jsd"], [jsd, 0.0], rtol=1e-12, atol=1e-15)
    assert out["jsd"].shape == (2,)


def test_categorical_divergences_with_zeros_are_finite_and_bounded():
    floor = 1e-8
    out = categorical_divergences(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert all(np.isfinite(v) for v in out.values())
    # documented rule: raise to 1e-8, renormalise, then the usual formulas
    big, small = 1.0 / (1.0 + floor), floor / (1.0 + floor)
    kl = (big - small) * math.log(big / small)
    np.testing.assert_allclose(out["kl_pq"], kl, rtol=1e-12)
    np.testing.assert_allclose(out["kl_qp"], kl, rtol=1e-12)
    assert out["jsd"] <= math.log(2.0)
    np.testing.assert_allclose(out["jsd"], math.log(2.0), rtol=1e-6)
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.full(10, 0.1), size=200)
    p[p < 1e-3] = 0.0
    p /= p.sum(1, keepdims=True)
    q = rng.dirichlet(np.full(10, 0.1), size=200)
    res = categorical_divergences(p, q)
    assert np.all(np.isfinite(res["kl_pq"])) and np.all(res["kl_pq"] >= 0) and np.all(res["kl_qp"] >= 0)
    assert np.all((res["jsd"] >= 0) & (res["jsd"] <= math.log(2.0)))
    np.testing.assert_allclose(categorical_divergences(p, p)["jsd"], 0.0, atol=1e-15)
    with pytest.raises(ValueError, match="sum to 1"):
        categorical_divergences([0.5, 0.6], [0.5, 0.5])
    with pytest.raises(ValueError, match="non-negative"):
        categorical_divergences([1.5, -0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="same shape"):
        categorical_divergences([0.5, 0.5], [0.2, 0.3, 0.5])


# --- FID (sections 3.2 (b), 3.3) -------------------------------------------------------------------


def exact_sample(mu, cov, n, rng):
    """n points whose sample mean is exactly ``mu`` and unbiased sample covariance exactly ``cov``."""
    z = rng.normal(size=(n, mu.size))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return mu + z @ np.linalg.cholesky(cov).T


def test_frechet_distance_closed_form_for_commuting_covariances():
    rng = np.random.default_rng(4)
    F = 5
    q, _ = np.linalg.qr(rng.normal(size=(F, F)))
    a, b = rng.uniform(0.2, 3.0, F), rng.uniform(0.2, 3.0, F)
    cov_a, cov_b = (q * a) @ q.T, (q * b) @ q.T
    mu_a, mu_b = rng.normal(size=F), rng.normal(size=F)
    closed = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert gaussian_frechet(mu_a, cov_a, mu_b, cov_b) == pytest.approx(closed, rel=1e-9)
    xa, xb = exact_sample(mu_a, cov_a, 300, rng), exact_sample(mu_b, cov_b, 200, rng)
    assert frechet_distance(xa, xb) == pytest.approx(closed, rel=1e-8)
    assert frechet_distance(torch.as_tensor(xb), torch.as_tensor(xa)) == pytest.approx(closed, rel=1e-8)
    assert frechet_distance(xa, xb) == pytest.approx(frechet_distance(xb, xa), rel=1e-10)
    assert frechet_distance(xa, xa) == pytest.approx(0.0, abs=1e-8)
    # one dimension: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2
    assert gaussian_frechet([1.0], [[4.0]], [-0.5], [[0.25]]) == pytest.approx(1.5**2 + 1.5**2, rel=1e-12)


def test_frechet_distance_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(rng.normal(size=(1, 3)), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match="dimensions differ"):
        frechet_distance(rng.normal(size=(5, 3)), rng.normal(size=(5, 4)))
    with pytest.raises(ValueError, match="NaN"):
        frechet_distance(np.full((5, 3), np.nan), rng.normal(size=(5, 3)))
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        frechet_distance(rng.normal(size=5), rng.normal(size=(5, 1)))


# --- sample-based divergences (section 3.4) --------------------------------------------------------


def _sq_dists(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def test_energy_distance_is_half_the_v_statistic_energy_distance():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 3)), rng.normal(0.5, 1.3, size=(40, 3))

    def d(a, b):  # geomloss's tensorized distance: sqrt(max(|a-b|^2, 1e-8))
        return np.sqrt(np.maximum(_sq_dists(a, b), 1e-8))

    expected = d(x, y).mean() - 0.5 * d(x, x).mean() - 0.5 * d(y, y).mean()
    assert energy_distance(x, y) == pytest.approx(expected, rel=1e-10)
    assert energy_distance(torch.as_tensor(y), torch.as_tensor(x)) == pytest.approx(expected, rel=1e-10)


def test_gaussian_mmd_is_half_the_squared_v_statistic_mmd():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 3)), rng.normal(0.5, 1.3, size=(40, 3))
    blur = 0.8

    def k(a, b):
        return np.exp(-_sq_dists(a, b) / (2 * blur**2))

    expected = 0.5 * k(x, x).mean() + 0.5 * k(y, y).mean() - k(x, y).mean()
    assert gaussian_mmd(x, y, blur=blur) == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="blur"):
        gaussian_mmd(x, y, blur=0.0)


def test_sinkhorn_divergence_properties():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(50, 3)), rng.normal(0.2, 1.5, size=(70, 3))
    assert sinkhorn_divergence(x, x, blur=0.05) == pytest.approx(0.0, abs=1e-10)
    s_xy, s_yx = sinkhorn_divergence(x, y, blur=0.05), sinkhorn_divergence(y, x, blur=0.05)
    assert s_xy > 0.05 and s_xy == pytest.approx(s_yx, rel=1e-8)
    # cost 1/2 |x - y|^2: a translated copy is at exactly 1/2 |delta|^2, whatever the blur
    delta = np.array([0.3, -0.2, 0.1])
    for blur in (0.01, 0.5):
        assert sinkhorn_divergence(x, x + delta, blur=blur) == pytest.approx(0.5 * delta @ delta, rel=1e-8)
    # small blur, fine annealing: 1/2 W_2^2, which in 1-D pairs sorted samples
    a, b = rng.normal(size=(60, 1)), rng.uniform(0.0, 3.0, size=(60, 1))
    half_w2 = 0.5 * np.mean((np.sort(a, 0) - np.sort(b, 0)) ** 2)
    assert sinkhorn_divergence(a, b, blur=0.003, scaling=0.99) == pytest.approx(half_w2, rel=1e-4)
    with pytest.raises(ValueError, match="scaling"):
        sinkhorn_divergence(x, y, blur=0.05, scaling=1.0)
    with pytest.raises(ValueError, match="dimensions"):
        sinkhorn_divergence(x, y[:, :2], blur=0.05)
    with pytest.raises(ValueError, match="NaN"):
        sinkhorn_divergence(np.full((3, 3), np.nan), y, blur=0.05)


def test_backend_resolution():
    with pytest.raises(ValueError, match="backend"):
        resolve_backend("gpu")
    try:
        import pykeops  # noqa: F401
    except ImportError:
        assert resolve_backend("auto") == "tensorized"
        with pytest.raises(ValueError, match="pykeops"):
            sinkhorn_divergence(np.zeros((2, 1)), np.ones((2, 1)), blur=0.1, backend="online")


def _reference_median(x, halve):
    """The OT-imputer rule: int(0.5 n)-th smallest (1-based) positive entry of the full matrix."""
    d = _sq_dists(x, x).ravel()
    d = d / 2 if halve else d
    d = np.sort(d[d > 0])
    return d[int(0.5 * d.size) - 1]


def test_pick_blur_by_hand_and_against_the_reference_rule():
    x = np.array([[0.0], [1.0], [3.0]])
    # squared distances 1, 4, 9 (each twice); halved: 0.5 0.5 2 2 4.5 4.5 -> 3rd smallest = 2
    assert pick_sinkhorn_blur(x, generator=torch.Generator().manual_seed(0)) == pytest.approx(0.05 * 2.0)
    assert pick_mmd_blur(x, generator=torch.Generator().manual_seed(0)) == pytest.approx(4.0)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(41, 4))
    x[rng.random(x.shape) < 0.2] = np.nan
    filled = np.where(np.isnan(x), np.nanmean(x, 0), x)
    g = torch.Generator().manual_seed(1)
    assert pick_sinkhorn_blur(x, generator=g) == pytest.approx(0.05 * _reference_median(filled, True), rel=1e-12)
    assert pick_mmd_blur(x, generator=g) == pytest.approx(_reference_median(filled, False), rel=1e-12)
    # a random subset of num_rows rows, drawn with the generator (torch.randperm)
    idx = torch.randperm(41, generator=torch.Generator().manual_seed(9))[:10].numpy()
    got = pick_mmd_blur(x, num_rows=10, generator=torch.Generator().manual_seed(9))
    assert got == pytest.approx(_reference_median(filled[idx], False), rel=1e-12)
    with pytest.raises(ValueError, match="identical"):
        pick_mmd_blur(np.ones((5, 2)), generator=torch.Generator())
    with pytest.raises(TypeError, match="torch.Generator"):
        pick_sinkhorn_blur(x, generator=np.random.default_rng(0))
    with pytest.raises(ValueError, match="infinite"):
        pick_mmd_blur(np.array([[np.inf], [0.0]]), generator=torch.Generator())


# --- Omniglot image metrics (section 3.3) ----------------------------------------------------------


def test_f1_missing_matches_sklearn_on_pooled_missing_pixels():
    rng = np.random.default_rng(6)
    N, B, P = 5, 6, 16
    imputations = rng.random((N, B, P)) < 0.4
    truth = rng.random((B, P)) < 0.3
    observed = rng.random((B, P)) < 0.5
    missing = ~observed
    y_true = np.tile(truth[missing], N)
    y_pred = imputations[:, missing].ravel()
    out = f1_missing(imputations.astype(np.float32), truth.astype(int), observed)
    assert out["f1"] == pytest.approx(f1_score(y_true, y_pred), rel=1e-12)
    assert out["inverse_f1"] == pytest.approx(f1_score(y_true, y_pred, pos_label=0), rel=1e-12)
    # by hand: missing pixels truth [1, 0], imputations [1, 1] and [0, 0] -> TP 1, FP 1, FN 1, TN 1
    hand = f1_missing(torch.tensor([[[1, 1, 1]], [[0, 0, 1]]]), torch.tensor([[1, 0, 1]]), torch.tensor([[0, 0, 1]]))
    assert hand == {"f1": 0.5, "inverse_f1": 0.5}
    with pytest.raises(ValueError, match="binary"):
        f1_missing(imputations * 0.5, truth, observed)
    with pytest.raises(ValueError, match="no missing"):
        f1_missing(imputations, truth, np.ones_like(observed))
    with pytest.raises(ValueError, match=r"\(N, B, D\)"):
        f1_missing(imputations[0], truth, observed)


def test_ssim():
    rng = np.random.default_rng(7)
    truth = (rng.random((4, 28 * 28)) < 0.3).astype(np.float64)
    assert ssim(truth[None], truth, (28, 28)) == pytest.approx(1.0, abs=1e-12)
    scores = []
    for noise in (0.05, 0.2, 0.5):
        imps = np.clip(truth[None] + noise * rng.normal(size=(3, *truth.shape)), 0.0, 1.0)
        scores.append(ssim(imps, truth, (28, 28)))
    assert scores[0] > scores[1] > scores[2]
    # the defaults are torchmetrics' defaults (Gaussian 11 / 1.5) with data_range=1, and batching is exact
    imps = np.clip(truth[None] + 0.2 * rng.normal(size=(3, *truth.shape)), 0.0, 1.0)
    preds = torch.as_tensor(imps).reshape(12, 1, 28, 28)
    target = torch.as_tensor(truth)[None].expand(3, -1, -1).reshape(12, 1, 28, 28)
    reference = float(structural_similarity_index_measure(preds, target, data_range=1.0))
    assert ssim(imps, truth, (28, 28)) == pytest.approx(reference, rel=1e-12)
    assert ssim(imps, truth, (28, 28), batch_size=5) == pytest.approx(reference, rel=1e-12)
    # small images: a 7-pixel window works on 8x8; the default 11 is larger than the image
    small = (rng.random((3, 64)) < 0.5).astype(np.float64)
    assert gaussian_window_size(1.5 * 7 / 11) == 7
    assert ssim(small[None], small, (8, 8), kernel_size=7) == pytest.approx(1.0, abs=1e-12)
    assert ssim(1.0 - small[None], small, (8, 8), kernel_size=7) < 0.5
    with pytest.raises(ValueError, match="larger than the 8x8 image"):
        ssim(small[None], small, (8, 8))
    with pytest.raises(ValueError, match="Gaussian window"):
        ssim(small[None], small, (8, 8), kernel_size=7, sigma=1.5)
    with pytest.raises(ValueError, match="pixels"):
        ssim(small[None], small, (7, 8), kernel_size=7)
