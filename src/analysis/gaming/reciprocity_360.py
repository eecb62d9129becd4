"""Reciprocal inflation in 360-degree peer ratings (check ``reciprocity_360``).

Two peers who agree to rate each other generously ("you scratch my back")
both gain in any 360 score that averages peer ratings. The signature: each
rates the other higher than they rate their other peers, and higher than the
other's other raters rate them.

Statistic
---------
Per period, peer ratings (``rater_group == "peer"``) are averaged over
competencies into one score per rater -> ratee. An additive two-way model
``score = mu + leniency(rater) + standing(ratee) + residual`` is fitted by
alternating means; for every *mutual* pair (a rated b and b rated a) the pair
statistic is ``T_ab = residual(a->b) + residual(b->a)``.

Null model
----------
Permutation that keeps each rater's leniency: within each rater, the
residuals are shuffled among the peers that rater rated (the residual
permutation of Freedman & Lane 1983). Under the null of no reciprocity the
residuals of one rater are exchangeable. Each pair's ``T`` is standardised by
its own permutation mean and SD, and its p-value is the share of all
permutation z-scores (pooled over pairs, so small p-values are resolved) at
least as large. An agent's p-value is the Bonferroni minimum over their
mutual partners (``n`` = number of mutual partners); the partner is named in
``detail``, and both members of a pair are reported.

Whole window (period ``all``, with two or more rating rounds): a pair who inflate
each other every round give a moderate residual each round that no single round
shows (:func:`reciprocity_pooled`): each rater -> ratee relationship's residuals
are averaged over its rounds and scaled by their own null SD (a lasting
relationship effect plus round-to-round noise, both estimated by moments), so an
honest pair's lasting liking is judged against everyone's lasting likes and is not
counted again each round; the same within-rater permutation tests the pair sum.
On 25 simulated centers with a lasting halo (4 rounds) its p-values are
calibrated at .01-.1 whatever the number of rounds a pair shares; pairs adding 1
point each round reach p < .01 in 88 % of cases against 42 % for the best single
round with Bonferroni over three rounds (``tests/test_gaming_reciprocity_360.py``).
In the agent-level decision the whole-window row carries half the check's weight.

Input: ``ctx.ratings`` with the contract columns ``period, ratee_id,
rater_id, rater_group, competency, score``. Skipped without ratings, without
peer ratings, or when no two people rated each other (pseudonymous rater
ids that are not agent ids cannot be matched).

What it cannot see: one-sided favours (a rates b up, b does not return it);
rings of three or more (a->b->c->a); collusion that also lifts the partner's
ratings from others; a pair who genuinely work well together (the check
finds mutual generosity, not its reason).

References
----------
Freedman, D. & Lane, D. (1983). A nonstochastic interpretation of reported
significance levels. *J. Business & Economic Statistics* 1, 292–298.
Kenny, D. A. (1994). *Interpersonal Perception: A Social Relations Analysis*.
Guilford (actor, partner and relationship effects; reciprocity).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._base import CHECKS, CheckResult, GamingContext
from ._sigutil import make_flags, option, seed, skipped

__all__ = ["check_reciprocity_360", "reciprocity_pairs", "reciprocity_pooled"]

_NEED = ("period", "ratee_id", "rater_id", "rater_group", "score")


def _two_way_residuals(r: np.ndarray, e: np.ndarray, y: np.ndarray, iters: int = 50) -> np.ndarray:
    """Residuals of ``y ~ mu + a[r] + b[e]`` on a sparse design (alternating means)."""
    mu = y.mean()
    a = np.zeros(r.max() + 1)
    b = np.zeros(e.max() + 1)
    cr = np.bincount(r, minlength=a.size).astype(float)
    ce = np.bincount(e, minlength=b.size).astype(float)
    for _ in range(iters):
        a_new = np.bincount(r, weights=y - mu - b[e], minlength=a.size) / np.maximum(cr, 1)
        b_new = np.bincount(e, weights=y - mu - a_new[r], minlength=b.size) / np.maximum(ce, 1)
        done = np.max(np.abs(a_new - a)) < 1e-10 and np.max(np.abs(b_new - b)) < 1e-10
        a, b = a_new, b_new
        if done:
            break
    return y - mu - a[r] - b[e]


def _residual_cells(ratings: pd.DataFrame) -> pd.DataFrame:
    """Peer ratings as rater -> ratee cells per period with their two-way residuals.

    Returns ``period, rater_id, ratee_id, score`` (mean over competencies), ``res``
    (residual of the period's additive rater + ratee model), sorted by period, rater, ratee.
    """
    cols = ["period", "rater_id", "ratee_id", "score", "res"]
    peer = ratings[ratings["rater_group"].astype(str) == "peer"]
    peer = peer.dropna(subset=["score", "rater_id", "ratee_id"])
    out = []
    for period, g in peer.groupby("period", sort=True):
        cell = (
            g.assign(rater_id=g["rater_id"].astype(str), ratee_id=g["ratee_id"].astype(str))
            .groupby(["rater_id", "ratee_id"], sort=True)["score"].mean().reset_index()
        )
        cell = cell[cell["rater_id"] != cell["ratee_id"]]
        if cell.empty:
            continue
        cell = cell.sort_values(["rater_id", "ratee_id"]).reset_index(drop=True)
        r_codes, _ = pd.factorize(cell["rater_id"], sort=True)
        e_codes, _ = pd.factorize(cell["ratee_id"], sort=True)
        cell["res"] = _two_way_residuals(r_codes, e_codes, cell["score"].to_numpy(float))
        out.append(cell.assign(period=str(period))[cols])
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.concat(out, ignore_index=True)


def _mutual(cell: pd.DataFrame):
    """Mutual pairs of a rater -> ratee table (sorted ``(a, b)``, ``a < b``) and the row
    positions of ``a -> b`` and ``b -> a``."""
    key = list(zip(cell["rater_id"], cell["ratee_id"], strict=True))
    pos = {k: i for i, k in enumerate(key)}
    pairs = sorted({tuple(sorted((a, b))) for a, b in key if (b, a) in pos})
    ia = np.array([pos[(a, b)] for a, b in pairs], dtype=int)
    ib = np.array([pos[(b, a)] for a, b in pairs], dtype=int)
    return pairs, ia, ib


def _within_rater_test(values: np.ndarray, r_codes: np.ndarray, ia: np.ndarray,
                       ib: np.ndarray, n_perm: int, rng: np.random.Generator):
    """Pair statistics ``values[ia] + values[ib]`` against within-rater permutations.

    Each pair's statistic is standardised by its own permutation mean and SD; its p-value
    is the share of all pairs' permutation z-scores at least as large (module docstring).
    Returns ``(t, z, p)``.
    """
    t_obs = values[ia] + values[ib]
    n = len(values)
    perm_t = np.empty((n_perm, len(ia)))
    chunk = max(1, 2_000_000 // max(n, 1))
    for lo in range(0, n_perm, chunk):
        b = min(chunk, n_perm - lo)
        # within-rater permutations: sort by rater code + uniform noise
        order = np.argsort(r_codes[None, :] + rng.random((b, n)), axis=1)
        perm_t[lo : lo + b] = values[order[:, ia]] + values[order[:, ib]]
    mu = perm_t.mean(axis=0)
    sd = perm_t.std(axis=0)
    sd = np.where(sd > 1e-12, sd, np.nan)
    z_obs = (t_obs - mu) / sd
    z_null = np.sort(((perm_t - mu) / sd)[:, np.isfinite(sd)].ravel())
    exceed = z_null.size - np.searchsorted(z_null, z_obs - 1e-12, side="left")
    p = np.where(np.isfinite(z_obs), (1.0 + exceed) / (1.0 + z_null.size), 1.0)
    return t_obs, z_obs, p.astype(float)


_PAIR_COLUMNS = ["period", "agent_a", "agent_b", "t", "z", "p_value", "score_ab", "score_ba",
                 "n_raters"]


def reciprocity_pairs(
    ratings: pd.DataFrame, *, n_perm: int = 2000, rng: np.random.Generator | None = None
) -> pd.DataFrame:
    """Mutual peer pairs with their reciprocity statistic and permutation p-value.

    Parameters
    ----------
    ratings
        Contract-shaped 360 ratings (peer rows are used).
    n_perm
        Permutations per period.

    Returns
    -------
    DataFrame ``period, agent_a, agent_b, t`` (sum of the two residuals, score
    points), ``z`` (standardised by the pair's permutation distribution),
    ``p_value``, ``score_ab``, ``score_ba`` (mean scores given), ``n_raters``
    (peer raters in the period).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    cells = _residual_cells(ratings)
    out = []
    for period, cell in cells.groupby("period", sort=True):
        cell = cell.reset_index(drop=True)
        pairs, ia, ib = _mutual(cell)
        if not pairs:
            continue
        r_codes, r_ids = pd.factorize(cell["rater_id"], sort=True)
        t_obs, z_obs, p = _within_rater_test(cell["res"].to_numpy(float), r_codes, ia, ib,
                                             n_perm, rng)
        score = cell["score"].to_numpy(float)
        out.append(pd.DataFrame({
            "period": str(period), "agent_a": [a for a, _ in pairs],
            "agent_b": [b for _, b in pairs], "t": t_obs, "z": z_obs,
            "p_value": p, "score_ab": score[ia], "score_ba": score[ib],
            "n_raters": len(r_ids),
        }, columns=_PAIR_COLUMNS))
    if not out:
        return pd.DataFrame(columns=_PAIR_COLUMNS)
    return pd.concat(out, ignore_index=True)


def reciprocity_pooled(
    ratings: pd.DataFrame, *, n_perm: int = 2000, rng: np.random.Generator | None = None
) -> pd.DataFrame:
    """Mutual pairs over the whole window (period ``all``): evidence that accumulates.

    A pair who inflate each other every round give a moderate residual each round; each
    round alone may stay below the bar (``ccpm synth``: planted pairs at p .001-.05 a
    month, almost never flagged). Pooling the rounds must not treat an honest pair's
    lasting mutual liking (a halo that repeats every round) as new evidence each time, so
    the unit is the rater -> ratee relationship, not the round:

    * ``rbar``: each rater -> ratee mean residual over the rounds in which that rating was
      given (``c`` rounds);
    * its variance under no reciprocity, ``h^2 + sigma^2 / c``: ``sigma^2`` the
      round-to-round variance of a relationship's residuals (pooled within
      relationships), ``h^2`` the lasting relationship variance (the variance of the
      ``rbar`` beyond ``sigma^2 mean(1 / c)``, method of moments), so ``u = rbar /
      sqrt(h^2 + sigma^2 / c)`` has unit variance whatever the number of rounds;
    * the pair statistic ``u_ab + u_ba`` for every pair who rated each other at any time,
      tested like a round's (within-rater permutation of the ``u``, each pair standardised
      by its permutation mean and SD, pooled reference).

    The lasting halo stays in the permuted ``u``, so an honest pair who like each other is
    judged against everyone's lasting likes; repeated inflation, which the rounds' noise
    hides, adds up. Needs two or more periods. Returns :func:`reciprocity_pairs`'s
    columns plus ``rounds`` (rounds in which both rated each other), ``period`` = ``all``,
    ``t`` the mean residual sum in points.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    cols = _PAIR_COLUMNS + ["rounds"]
    cells = _residual_cells(ratings)
    if cells["period"].nunique() < 2:
        return pd.DataFrame(columns=cols)
    g = cells.groupby(["rater_id", "ratee_id"], sort=True)
    rel = g.agg(c=("res", "size"), rbar=("res", "mean"), score=("score", "mean")).reset_index()
    dev2 = (cells["res"] - g["res"].transform("mean")) ** 2
    df_w = float((rel["c"] - 1).sum())
    sigma2 = float(dev2.sum() / df_w) if df_w > 0 else float(cells["res"].var())
    c = rel["c"].to_numpy(float)
    h2 = max(0.0, float(rel["rbar"].var()) - sigma2 * float(np.mean(1.0 / c)))
    scale = np.sqrt(h2 + sigma2 / c)
    if not np.all(scale > 0):
        return pd.DataFrame(columns=cols)
    u = rel["rbar"].to_numpy(float) / scale
    pairs, ia, ib = _mutual(rel)
    if not pairs:
        return pd.DataFrame(columns=cols)
    r_codes, r_ids = pd.factorize(rel["rater_id"], sort=True)
    _, z_obs, p = _within_rater_test(u, r_codes, ia, ib, n_perm, rng)
    both = cells.merge(cells, left_on=["period", "rater_id", "ratee_id"],
                       right_on=["period", "ratee_id", "rater_id"])
    rounds = both.assign(a=np.minimum(both["rater_id_x"], both["ratee_id_x"]),
                         b=np.maximum(both["rater_id_x"], both["ratee_id_x"]))
    rounds = rounds.groupby(["a", "b"])["period"].nunique()
    rb, sc = rel["rbar"].to_numpy(float), rel["score"].to_numpy(float)
    return pd.DataFrame({
        "period": "all", "agent_a": [a for a, _ in pairs], "agent_b": [b for _, b in pairs],
        "t": rb[ia] + rb[ib], "z": z_obs, "p_value": p, "score_ab": sc[ia],
        "score_ba": sc[ib], "n_raters": len(r_ids),
        "rounds": [int(rounds.get(pr, 0)) for pr in pairs],
    }, columns=cols)


@CHECKS.register("reciprocity_360")
def check_reciprocity_360(ctx: GamingContext) -> CheckResult:
    """Reciprocal inflation in 360 peer ratings (module docstring).

    Options: ``recip_n_perm`` (2000 permutations per period).

    Returns
    -------
    CheckResult; one flag row per agent x period with a mutual partner:
    ``effect`` = mean excess points the agent and their strongest partner give
    each other, ``n`` = mutual partners, ``k`` empty, ``detail`` names the partner.
    """
    name = "reciprocity_360"
    rt = ctx.ratings
    if rt is None or len(rt) == 0:
        return skipped(name, "no 360 ratings given")
    missing = [c for c in _NEED if c not in rt.columns]
    if missing:
        return skipped(name, f"360 ratings lack column(s): {', '.join(missing)}")
    if not (rt["rater_group"].astype(str) == "peer").any():
        return skipped(name, "no peer ratings (rater_group 'peer')")
    n_perm = int(option(ctx, "recip_n_perm", 2000))
    pairs = reciprocity_pairs(rt, n_perm=n_perm, rng=np.random.default_rng(seed(ctx, 61)))
    pooled = reciprocity_pooled(rt, n_perm=n_perm, rng=np.random.default_rng(seed(ctx, 62)))
    n_rounds = pairs["period"].nunique()
    if len(pooled):
        pairs = pd.concat([pairs, pooled.drop(columns="rounds")], ignore_index=True)
    if pairs.empty:
        return skipped(name, "no two peers rated each other (rater ids may be pseudonymous "
                       "and not match agent ids)")
    both = pd.concat([
        pairs.rename(columns={"agent_a": "agent_id", "agent_b": "partner"}),
        pairs.rename(columns={"agent_b": "agent_id", "agent_a": "partner",
                              "score_ab": "score_ba", "score_ba": "score_ab"}),
    ], ignore_index=True)
    # per agent x period the partner with the smallest p-value (the first such row)
    key = ["agent_id", "period"]
    count = both.groupby(key, sort=True).size()
    best = both.sort_values(key + ["p_value"], kind="stable").drop_duplicates(key)
    best = best.set_index(key).loc[count.index].reset_index()
    m = count.to_numpy()
    unit = ("score points each partner gives the other above their usual "
            "(mean of both directions)")
    rows = [
        dict(
            agent_id=r.agent_id, period=r.period, check=name, effect=float(r.t) / 2.0,
            effect_unit=unit, p_value=min(1.0, int(mm) * float(r.p_value)), n=int(mm), k=None,
            detail=(f"partner {r.partner}: gives {r.score_ab:.2f}, receives "
                    f"{r.score_ba:.2f}; mutual residual {r.t:+.2f} points "
                    f"(z {r.z:.2f}, pair p {r.p_value:.3g}); {int(mm)} mutual "
                    f"partner(s), Bonferroni"),
        )
        for r, mm in zip(best.itertuples(index=False), m, strict=True)
    ]
    notes = [f"reciprocity: {int((pairs['period'] != 'all').sum())} mutual peer pairs "
             f"tested over {n_rounds} period(s)"]
    if len(pooled):
        notes.append(f"whole window (period 'all'): {len(pooled)} pairs who rated each other "
                     "at any time, each rater -> ratee relationship's mean residual over the "
                     "rounds, scaled by its own variance (lasting likes kept in the null)")
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)
