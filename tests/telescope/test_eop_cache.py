"""The per-user cache of astropy's parsed Earth-orientation table."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from dsa110.telescope import time as dtime


@pytest.fixture
def fresh_iers(monkeypatch, tmp_path):
    """Unload astropy's IERS_Auto table and point the cache at a private folder."""
    from astropy.utils import iers

    monkeypatch.setattr(iers.IERS_Auto, "iers_table", None)
    monkeypatch.setattr(dtime, "_table_end", None)
    cache = tmp_path / "iers-auto-test.pickle"
    monkeypatch.setattr(dtime, "_eop_cache_file", lambda: cache)
    return cache


def test_cache_round_trip(fresh_iers, monkeypatch):
    from astropy.utils import iers

    parsed = dtime.load_earth_orientation_table()  # parses, writes the cache
    assert fresh_iers.exists() and (fresh_iers.stat().st_mode & 0o077) == 0
    monkeypatch.setattr(iers.IERS_Auto, "iers_table", None)
    calls = []
    monkeypatch.setattr(
        iers.IERS_Auto, "read", classmethod(lambda cls, *a, **k: calls.append(1))
    )
    cached = dtime.load_earth_orientation_table()  # from the cache, no parsing
    assert calls == [] and cached is not parsed
    assert iers.earth_orientation_table.get() is cached
    for name in ("MJD", "UT1_UTC", "PM_x", "PM_y"):
        assert_array_equal(
            np.asarray(cached[name].value), np.asarray(parsed[name].value)
        )
    assert dtime._table_end_mjd() == float(parsed["MJD"][-1].value)


def test_damaged_cache_is_rebuilt(fresh_iers):
    fresh_iers.write_bytes(b"not a pickle")
    fresh_iers.chmod(0o600)
    table = dtime.load_earth_orientation_table()
    assert len(table) > 1000
    assert fresh_iers.stat().st_size > 1000  # rewritten


def test_import_parses_no_table():
    import subprocess
    import sys

    code = (
        "import dsa110.io, dsa110.phasing, dsa110.telescope\n"
        "from astropy.utils import iers\n"
        "assert iers.IERS_Auto.iers_table is None and iers.IERS_B.iers_table is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
