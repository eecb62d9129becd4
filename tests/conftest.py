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
