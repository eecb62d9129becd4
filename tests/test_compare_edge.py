"""Edge cases found by end-to-end QA: tiny centers and typos in the configuration."""

from __future__ import annotations

import pytest

from analysis.cli import main
from analysis.errors import ConfigError
from analysis.models.config import load_model_config
from analysis.synth import generate_center, write_center


@pytest.fixture(scope="module")
def tiny_center(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    write_center(generate_center(agents=4, days=1, seed=3, gaming="none"), out)
    return out


def test_compare_with_one_agent_per_period_draws_figures_and_exits_0(tiny_center, tmp_path):
    # with one scored agent a within-period percentile is undefined; the figure must say so
    assert main(["compare", "--calls", str(tiny_center / "calls.parquet"), "--out", str(tmp_path)]) == 0
    assert (tmp_path / "scores_by_model.png").stat().st_size > 0
    assert (tmp_path / "summary.json").exists()


@pytest.mark.parametrize(
    "override, key",
    [({"kpii": {}}, "kpii"), ({"kpi": {"metricz": {}}}, "kpi.metricz"), ({"360": {"min_grp": 3}}, "360.min_grp")],
)
def test_unknown_configuration_keys_are_named(override, key):
    with pytest.raises(ConfigError, match=rf"^{key}: unknown configuration key"):
        load_model_config(override=override)


def test_known_keys_still_override():
    cfg = load_model_config(override={"kpi": {"cap": 1.5}, "360": {"min_group": 5}})
    assert cfg["kpi"]["cap"] == 1.5 and cfg["360"]["min_group"] == 5


def test_cli_reports_a_config_typo_in_one_line(tiny_center, tmp_path, capsys):
    cfg = tmp_path / "c.yml"
    cfg.write_text("kpi:\n  metricz: {}\n")
    rc = main(["compare", "--calls", str(tiny_center / "calls.parquet"), "--config", str(cfg),
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("ccpm compare: error: kpi.metricz: unknown configuration key")
