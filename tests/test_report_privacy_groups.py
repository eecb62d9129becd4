"""The report's 360 table applies the same anonymity rule as the 360 model."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from analysis.report.present import models as rc


def _ratings():
    rows = []
    # ratee a: 2 customers (too few), 4 peers, 1 supervisor, self
    for i in range(2):
        rows.append(("a", f"c{i}", "customer", 1.0))
    for i in range(4):
        rows.append(("a", f"p{i}", "peer", 4.0))
    rows += [("a", "s1", "supervisor", 3.0), ("a", "a", "self", 5.0)]
    # ratee b: 3 customers (enough at the default), 3 peers
    for i in range(3):
        rows.append(("b", f"c{i}", "customer", 2.0))
        rows.append(("b", f"p{i + 10}", "peer", 2.0))
    df = pd.DataFrame(rows, columns=["ratee_id", "rater_id", "rater_group", "score"])
    return df.assign(period="2026-01", competency="overall")


def _table(inputs, **kw):
    out = rc.ratings_by_group(inputs, "en", **kw)
    return out.df.set_index("rater_group")


def _row(t, word):
    """The row whose (translated) group label contains ``word``."""
    (label,) = [k for k in t.index if word in k.lower()]
    return t.loc[label]


def test_small_customer_groups_are_not_shown(tmp_path):
    inp = SimpleNamespace(ratings=_ratings(), config_path=None)
    t = _table(inp)
    cust = _row(t, "customer")
    # a's 2 customers are left out of the mean: only b's (2.0) remain
    assert cust["mean_score"] == pytest.approx(2.0)
    assert cust["shown"] == "50%"
    self_row = _row(t, "self")
    assert self_row["mean_score"] == pytest.approx(5.0)  # self apart, not mixed in


def test_configured_min_group_is_used_and_never_below_three(tmp_path):
    cfg = tmp_path / "m.yml"
    cfg.write_text("'360': {min_group: 4}\n")
    t = _table(SimpleNamespace(ratings=_ratings(), config_path=str(cfg)))
    peer = _row(t, "peer")
    assert peer["mean_score"] == pytest.approx(4.0) and peer["shown"] == "50%"
    # asking for 2 still means 3
    t2 = _table(SimpleNamespace(ratings=_ratings(), config_path=None), min_group=2)
    assert _row(t2, "customer")["shown"] == "50%"
