"""Shared fixtures.

The Anonymous Bank 1999 logs ship with the project (``data/external/``), so the tests that
need them run in any clone. The data sets that may not be shipped (the PwC Excel export, the
honeycomb 360 file) are read from the folder named by ``CCPM_SHARED_DATA`` (default
``../shared/data`` beside the checkout): where it is missing their tests are skipped with the
reason printed, except under CI (``CI=true``), where a missing data set is an error, so that
nothing is skipped silently there. ``CCPM_SHARED_DATA=none`` declares that there is none.
"""

from __future__ import annotations

import os

import pytest

from analysis.config import BANK_DATA_DIR, SHARED_DATA_DIR, SHARED_DATA_ENV


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _declared_absent() -> bool:
    return os.environ.get(SHARED_DATA_ENV, "").strip().lower() == "none"


@pytest.fixture(scope="session")
def bank_data():
    """The shipped Anonymous Bank 1999 logs (``data/external/anonymous_bank_1999``)."""
    if not any(BANK_DATA_DIR.glob("*.txt.gz")):
        pytest.fail(f"the shipped bank logs are missing from {BANK_DATA_DIR} (a damaged checkout?)")
    return BANK_DATA_DIR


@pytest.fixture(scope="session")
def shared_dataset():
    """``shared_dataset("pwc_call_centre/call_center_dataset.xlsx")`` -> the path, or skip.

    Skips with the reason when the file is missing (or ``CCPM_SHARED_DATA=none``); under CI a
    missing file is an error unless ``CCPM_SHARED_DATA=none`` says so explicitly.
    """

    def get(relative: str):
        path = SHARED_DATA_DIR / relative
        if _declared_absent():
            pytest.skip(f"{SHARED_DATA_ENV}=none: shared data set {relative} not available")
        if path.exists():
            return path
        msg = (f"shared data set {relative} not found under {SHARED_DATA_DIR}; "
               f"set {SHARED_DATA_ENV}=/path/to/shared/data (or =none to skip these tests)")
        if _under_ci():
            pytest.fail(msg + " [CI=true: a missing data set is an error]")
        pytest.skip(msg)

    return get


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
