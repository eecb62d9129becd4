"""Load 360-degree ratings (optional input): one row per rater x ratee x competency x period."""

from __future__ import annotations

import os
import re

import numpy as np
import pandas as pd

from ..contract import RATER_GROUPS
from ..errors import ConfigError, InputError
from ._build import Problems, build_columns
from ._mapping import Mapping, resolve_mapping
from ._readers import SOURCE_COLUMNS
from ._result import LoadResult, apply_rules, finish, read_raw

__all__ = ["load_ratings", "rescale", "RATINGS_REASONS", "DEFAULT_SCALE"]

#: The contract's default instrument scale.
DEFAULT_SCALE = (1.0, 5.0)

RATINGS_REASONS = {
    "malformed_row": "the line did not split into the header's number of fields",
    "unterminated_quote": "a quote opened on the line and did not close before its end (the "
    "lines it ran over are read again one line each)",
    "nul_byte": "a NUL character in a field (binary residue), wherever it is in the file",
    "duplicate_row": "an exact copy of an earlier row (only this reason is given)",
    "missing_score": "no score (e.g. the rater skipped the item)",
    "unparseable_score": "a score that is not a number",
    "score_out_of_range": "score outside the mapping's scale (default 1-5)",
    "missing_<column>": "no period / ratee_id / rater_id / rater_group / competency",
    "unknown_rater_group": "rater_group not self / supervisor / peer / customer / direct_report",
    "conflicting_scores": "different scores for the same rater, ratee, competency and period "
    "(all of them, or all but the first with dedupe.conflicts: first)",
}

_KEY = ["period", "ratee_id", "rater_id", "competency"]


def rescale(score, *, source: tuple[float, float], target: tuple[float, float] = DEFAULT_SCALE):
    """Map scores linearly from the instrument's scale to another (default 1-5).

    ``rescale(10, source=(1, 10))`` is 5.0 and ``rescale(1, source=(1, 10))`` is 1.0.
    Works on scalars, arrays and Series.
    """
    lo, hi = source
    tlo, thi = target
    if hi <= lo or thi <= tlo:
        raise ValueError("a scale is (low, high) with low < high")
    x = score.astype(float) if isinstance(score, pd.Series) else np.asarray(score, dtype=float)
    out = tlo + (x - lo) * (thi - tlo) / (hi - lo)
    return float(out) if np.ndim(out) == 0 and not isinstance(score, pd.Series) else out


def _melt(raw: pd.DataFrame, m: Mapping) -> pd.DataFrame:
    spec = m.melt
    ids = list(spec["id_columns"])
    missing = [c for c in ids if c not in raw.columns]
    if missing:
        raise InputError(f"melt id column {missing[0]!r} (mapping {m.name}) is not in the input")
    if spec["value_columns"]:
        values = list(spec["value_columns"])
        absent = [c for c in values if c not in raw.columns]
        if absent:
            raise InputError(f"melt value column {absent[0]!r} (mapping {m.name}) is not in the input")
    else:
        try:
            pat = re.compile(spec["value_pattern"])
        except re.error as exc:
            raise ConfigError(f"mapping key 'melt.value_pattern': {exc}") from None
        values = [c for c in raw.columns if c not in ids and c not in SOURCE_COLUMNS
                  and pat.search(str(c))]
        if not values:
            raise InputError(f"no column matches melt.value_pattern of mapping {m.name}")
    keep = ids + [c for c in SOURCE_COLUMNS if c in raw.columns]
    long = raw.melt(id_vars=keep, value_vars=values, var_name="item", value_name="value",
                    ignore_index=True)
    # row order: by source row, then item (a wide row's items stay together)
    n, k = len(raw), len(values)
    order = np.lexsort((np.repeat(np.arange(k), n), np.tile(np.arange(n), k)))
    return long.iloc[order].reset_index(drop=True)


def load_ratings(path: str | os.PathLike, mapping=None, *, progress: bool = False) -> LoadResult:
    """Read 360-degree ratings and check every row.

    Long form (one score per row) is the contract; a wide export (one row per
    rater x ratee, one column per item) is melted first when the mapping has a
    ``melt`` section (the melted column names are ``item`` and ``value``).

    Parameters
    ----------
    path : str or PathLike
        A file, folder or glob (same formats as :func:`analysis.load.load_calls`).
    mapping : None, str, PathLike, dict or Mapping
        ``None`` for contract-shaped columns, a built-in name (``honeycomb-360``)
        or a YAML file (``kind: ratings``). Its ``scale: {min, max}`` records the
        instrument's scale (default 1-5).

    Returns
    -------
    LoadResult
        ``valid`` columns: period, ratee_id, rater_id, rater_group, competency,
        score (on the instrument's scale: see ``meta['scale_min']`` /
        ``meta['scale_max']`` and :func:`rescale`). Exact duplicate rows are
        quarantined as ``duplicate_row``, items without a score as ``missing_score``.
    """
    m = resolve_mapping(mapping, kind="ratings")
    raw, sources, read_notes = read_raw(path, m, progress=progress)
    if m.melt:
        raw = _melt(raw, m)
    if len(raw) == 0:
        raise InputError(f"{path}: no data rows (header only?)")
    lo, hi = m.scale or DEFAULT_SCALE
    problems = Problems(len(raw))
    apply_rules(raw, m, problems)
    frame, built = build_columns(raw, m, problems)

    def missing(col: str) -> np.ndarray:
        return frame[col].isna().to_numpy() & ~built[col].bad

    for col in ("period", "ratee_id", "rater_id", "rater_group", "competency"):
        problems.add(f"missing_{col}", missing(col))
    problems.add("missing_score", missing("score"))
    grp = frame["rater_group"].str.strip().str.lower()
    frame["rater_group"] = grp
    problems.add("unknown_rater_group",
                 grp.notna().to_numpy() & ~grp.isin(RATER_GROUPS).fillna(False).to_numpy(dtype=bool))
    s = frame["score"].to_numpy(dtype=float, na_value=np.nan)
    problems.add("score_out_of_range", (s < lo) | (s > hi))

    data_cols = [c for c in raw.columns if c not in SOURCE_COLUMNS]
    if m.dedupe.get("exact_rows", True):
        dup_row = raw.duplicated(subset=data_cols, keep="first").to_numpy()
    else:
        dup_row = np.zeros(len(raw), dtype=bool)
    # a copy's problems are its original's: report only that it is a copy
    problems.items = [(r, mk & ~dup_row) for r, mk in problems.items]
    problems.items = [(r, mk) for r, mk in problems.items if mk.any()]
    problems.add("duplicate_row", dup_row)

    key = frame[_KEY].copy()
    for extra in m.dedupe.get("key", []) or []:
        if extra not in raw.columns:
            raise InputError(f"dedupe key column {extra!r} (mapping {m.name}) is not in the input")
        key[f"_k_{extra}"] = raw[extra]
    ok = ~problems.any()
    dup_key = np.zeros(len(raw), dtype=bool)
    if ok.any():
        keep = "first" if m.dedupe.get("conflicts", "quarantine_all") == "first" else False
        dup_key[ok] = key.loc[ok].duplicated(keep=keep).to_numpy()
    problems.add("conflicting_scores", dup_key)
    meta = {"scale_min": lo, "scale_max": hi}
    notes = read_notes + [f"scores on a {lo:g}-{hi:g} scale (rescale with analysis.load.rescale)"]
    return finish("ratings", m, raw, frame, problems, sources, notes, meta)
