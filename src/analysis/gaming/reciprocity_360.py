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

__all__ = ["check_reciprocity_360", "reciprocity_pairs"]

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
    cols = ["period", "agent_a", "agent_b", "t", "z", "p_value", "score_ab", "score_ba",
            "n_raters"]
    peer = ratings[ratings["rater_group"].astype(str) == "peer"]
    peer = peer.dropna(subset=["score", "rater_id", "ratee_id"])
    out = []
    for period, g in peer.groupby("period", sort=True):
        cell = (
            g.assign(rater_id=g["rater_id"].astype(str), ratee_id=g["ratee_id"].astype(str))
            .groupby(["rater_id", "ratee_id"], sort=True)["score"].mean().reset_index()
        )
        cell = cell[cell["rater_id"] != cell["ratee_id"]]
        key = set(zip(cell["rater_id"], cell["ratee_id"], strict=True))
        pairs = sorted({tuple(sorted((a, b))) for a, b in key if (b, a) in key})
        if not pairs:
            continue
        cell = cell.sort_values(["rater_id", "ratee_id"]).reset_index(drop=True)
        r_codes, r_ids = pd.factorize(cell["rater_id"], sort=True)
        e_codes, _ = pd.factorize(cell["ratee_id"], sort=True)
        res = _two_way_residuals(r_codes, e_codes, cell["score"].to_numpy(float))
        pos = {k: i for i, k in enumerate(zip(cell["rater_id"], cell["ratee_id"], strict=True))}
        ia = np.array([pos[(a, b)] for a, b in pairs])
        ib = np.array([pos[(b, a)] for a, b in pairs])
        t_obs = res[ia] + res[ib]
        # within-rater permutations: sort by rater code + uniform noise
        n = len(res)
        perm_t = np.empty((n_perm, len(pairs)))
        chunk = max(1, 2_000_000 // max(n, 1))
        for lo in range(0, n_perm, chunk):
            b = min(chunk, n_perm - lo)
            order = np.argsort(r_codes[None, :] + rng.random((b, n)), axis=1)
            perm_t[lo : lo + b] = res[order[:, ia]] + res[order[:, ib]]
        mu = perm_t.mean(axis=0)
        sd = perm_t.std(axis=0)
        sd = np.where(sd > 1e-12, sd, np.nan)
        z_obs = (t_obs - mu) / sd
        z_null = ((perm_t - mu) / sd)[:, np.isfinite(sd)].ravel()
        z_null = np.sort(z_null)
        exceed = z_null.size - np.searchsorted(z_null, z_obs - 1e-12, side="left")
        p = np.where(np.isfinite(z_obs), (1.0 + exceed) / (1.0 + z_null.size), 1.0)
        score = cell["score"].to_numpy(float)
        out.append(pd.DataFrame({
            "period": str(period), "agent_a": [a for a, _ in pairs],
            "agent_b": [b for _, b in pairs], "t": t_obs, "z": z_obs,
            "p_value": p.astype(float), "score_ab": score[ia], "score_ba": score[ib],
            "n_raters": len(r_ids),
        }, columns=cols))
    if not out:
        return pd.DataFrame(columns=cols)
    return pd.concat(out, ignore_index=True)


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
    pairs = reciprocity_pairs(rt, n_perm=int(option(ctx, "recip_n_perm", 2000)),
                              rng=np.random.default_rng(seed(ctx, 61)))
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
    notes = [f"reciprocity: {len(pairs)} mutual peer pairs tested over "
             f"{pairs['period'].nunique()} period(s)"]
    return CheckResult(name=name, flags=make_flags(rows), notes=notes)
