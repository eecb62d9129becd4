"""Shared fixtures. Real data is read from ../shared/data, never copied here."""

from __future__ import annotations

import pytest

from analysis.config import SHARED_DATA_DIR


@pytest.fixture(scope="session")
def shared_data():
    """Path of ../shared/data; the suite needs it (CI lays it beside the clone)."""
    if not SHARED_DATA_DIR.is_dir():
        pytest.fail(f"shared data not found at {SHARED_DATA_DIR} (set CCPM_SHARED_DATA)")
    return SHARED_DATA_DIR


# --- synthetic centers (helper "synth"; see analysis.synth) -------------------------
SYNTH_FIXTURE_GAMING = (
    "hangup=2@0.15,bunching=2,acw_padding=2@0.5,transfer_dumping=2,"
    "end_of_day_stretch=2,sandbagging=2,reciprocal=2"
)


@pytest.fixture(scope="session")
def synth_center(tmp_path_factory):
    """A small synthetic center (40 agents, 30 days, seed 11) with a default gaming mix.

    Returns the dict of paths from :func:`analysis.synth.write_center`
    (``calls``, ``roster``, ``ratings``, ``okr``, ``truth``).
    """
    from analysis.synth import generate_center, write_center

    center = generate_center(agents=40, days=30, seed=11, gaming=SYNTH_FIXTURE_GAMING)
    return write_center(center, tmp_path_factory.mktemp("synth_center"))


@pytest.fixture(scope="session")
def synth_null_center(tmp_path_factory):
    """Like ``synth_center`` but gaming ``none``: every agent honest (still heterogeneous)."""
    from analysis.synth import generate_center, write_center

    center = generate_center(agents=40, days=30, seed=12, gaming="none")
    return write_center(center, tmp_path_factory.mktemp("synth_null_center"))
