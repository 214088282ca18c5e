"""The claim checker: each test kind on hand-made grids (pass, fail, not run), and the claims file."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from vaeinfer.claims import Claim, check_claims, load_claims, write_claims_table
from vaeinfer.config import ConfigError
from vaeinfer.experiments.plan import make_plans

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def grid() -> xr.Dataset:
    """JSD of three samplers on two points and two seeds: lair best everywhere, mwg worst on point 0."""
    jsd = np.array([
        [[0.30, 0.02], [0.34, 0.04]],   # mwg      (seed, point)
        [[0.01, 0.05], [0.03, 0.05]],   # ac_mwg
        [[0.005, 0.01], [0.007, 0.01]],  # lair
    ])  # fmt: skip
    return xr.Dataset({"jsd": (("sampler", "seed", "point"), jsd)},
                      coords={"sampler": ["mwg", "ac_mwg", "lair"], "seed": [1, 2], "point": [3, 10]})


def _claim(**kw) -> Claim:
    base = dict(id="c", paper="p", source="s", experiment="toy", claim="text", variable="jsd", reduce=("seed",))
    return Claim(**{**base, **kw})


def _result(claim: Claim, grid: xr.Dataset) -> tuple[str, str]:
    row = check_claims([claim], {"toy": grid}).iloc[0]
    return row["result"], row["value"]


def test_below_passes_and_fails_on_the_maximum(grid):
    assert _result(_claim(test="below", select={"sampler": ["lair"]}, threshold=0.05), grid)[0] == "pass"
    result, value = _result(_claim(test="below", select={"sampler": ["ac_mwg", "lair"]}, threshold=0.05), grid)
    assert result == "fail" and "max 0.05" in value and "ac_mwg" in value  # 0.05 is not below 0.05


def test_ordering_must_hold_at_every_coordinate(grid):
    ok = _claim(test="ordering", for_each=("point",), better=("lair",), worse=("mwg", "ac_mwg"))
    assert _result(ok, grid)[0] == "pass"
    result, value = _result(_claim(test="ordering", for_each=("point",), better=("ac_mwg",), worse=("mwg",)), grid)
    assert result == "fail" and "point 10" in value  # ac_mwg 0.05 vs mwg 0.03 at point 10


def test_wins_counts_coordinates(grid):
    claim = _claim(test="wins", for_each=("point",), better=("ac_mwg",), worse=("mwg",), at_least=0.5)
    assert _result(claim, grid) == ("pass", "1/2 (needs 1)")
    stricter = _claim(test="wins", for_each=("point",), better=("ac_mwg",), worse=("mwg",), at_least=0.51)
    assert _result(stricter, grid)[0] == "fail"


def test_best_and_worst_and_higher_is_better(grid):
    assert _result(_claim(test="best", for_each=("point",), better=("lair",)), grid)[0] == "pass"
    assert _result(_claim(test="worst", reduce=("seed", "point"), worse=("mwg",)), grid)[0] == "pass"
    # read as "higher is better", the lowest JSD is the worst
    assert _result(_claim(test="worst", for_each=("point",), worse=("lair",), higher_is_better=True), grid)[0] == "pass"


def test_median_pooling(grid):
    claim = _claim(test="below", select={"sampler": ["mwg"], "point": [3]}, how="median", threshold=0.33)
    assert _result(claim, grid) == ("pass", "max 0.32 (sampler mwg, point 3)")


def test_missing_experiment_or_sampler_is_reported_not_dropped(grid):
    table = check_claims(
        [_claim(id="a", test="below", threshold=1.0, experiment="uci"),
         _claim(id="b", test="ordering", for_each=("point",), better=("lair",), worse=("pseudo_gibbs",))],
        {"toy": grid},
    )
    assert list(table["result"]) == ["not run", "not run"]
    assert "pseudo_gibbs" in table["value"].iloc[1]


def test_a_claim_missing_its_parameters_is_rejected():
    with pytest.raises(ConfigError, match="needs threshold"):
        _claim(test="below")


def test_unreduced_dimensions_are_an_error_not_a_silent_pass(grid):
    with pytest.raises(ConfigError, match="neither reduced nor in for_each"):
        check_claims([_claim(test="ordering", better=("lair",), worse=("mwg",))], {"toy": grid})


def test_table_lists_failures_with_a_tally(grid, tmp_path):
    table = check_claims([_claim(id="a", test="below", threshold=1.0), _claim(id="b", test="below", threshold=0.0)],
                         {"toy": grid})
    write_claims_table(table, markdown=tmp_path / "c.md", csv=tmp_path / "c.csv")
    text = (tmp_path / "c.md").read_text()
    assert "1 pass, 1 fail, 0 not run" in text and "❌ fail" in text


def test_the_claims_file_parses_and_names_known_experiments_and_runs():
    claims = load_claims(ROOT / "workflow" / "claims.yaml")
    assert len(claims) >= 15
    paper = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    overrides = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    runs = {name: set(plan.runs) for name, plan in make_plans(paper).items()}
    runs["toy_pitfalls"] = set(paper["experiments"]["toy_pitfalls"]["samplers"]) | set(
        overrides["experiments"]["toy_pitfalls"]["samplers"])
    for claim in claims:
        assert claim.experiment in runs, claim.id
        named = set(claim.better) | set(claim.worse) | set(claim.select.get("sampler", []))
        assert named <= runs[claim.experiment], (claim.id, named - runs[claim.experiment])
