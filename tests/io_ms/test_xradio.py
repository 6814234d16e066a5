"""Interop: xradio converts our Measurement Set to an MSv4 processing set.

xradio 1.3 needs zarr >= 3, which dask-ms (zarr < 3) and our zarr writer
conflict with, so it lives in its own virtual environment; the test is
skipped wherever ``xradio.measurement_set`` does not import. To run it::

    python -m venv --system-site-packages /work/venvs/xradio
    /work/venvs/xradio/bin/pip install "xradio[casacore]==1.3.0"
    PYTHONPATH=. /work/venvs/xradio/bin/python -m pytest tests/io_ms/test_xradio.py

(The MS is written with python-casacore, which the venv shares; our own zarr
store is not an MSv4 processing set.)
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from dsa110.io.ms import write_ms

pytestmark = pytest.mark.interop

try:
    from xradio.measurement_set import (
        convert_msv2_to_processing_set,
        open_processing_set,
    )
except ImportError as exc:  # absent, or its arcae/zarr-3 extras are missing
    pytestmark = [
        pytest.mark.interop,
        pytest.mark.skip(reason=f"xradio.measurement_set not importable: {exc}"),
    ]


@pytest.mark.parametrize("fields", ["single", "per_integration"])
@pytest.mark.parametrize("with_pointing", [True, False])
def test_xradio_opens_our_ms(vis_ds, fixed_ds, tmp_path, fields, with_pointing):
    ds = fixed_ds if fields == "single" else vis_ds
    ms = write_ms(ds, tmp_path / "a.ms", fields=fields)
    out = tmp_path / "a.ps.zarr"
    convert_msv2_to_processing_set(
        in_file=str(ms),
        out_file=str(out),
        with_pointing=with_pointing,
        parallel_mode="none",
    )
    ps = open_processing_set(str(out))
    (name,) = list(ps.keys())  # one spectral window, one observation
    xds = ps[name].ds if hasattr(ps[name], "ds") else ps[name]
    assert xds.attrs["type"] == "visibility"
    assert xds["VISIBILITY"].dims == (
        "time",
        "baseline_id",
        "frequency",
        "polarization",
    )
    assert_allclose(xds["time"].values, ds["time"].values, rtol=0, atol=1e-6)
    assert_allclose(xds["frequency"].values, ds["frequency"].values, rtol=0, atol=1e-3)
    assert list(xds["polarization"].values) == list(ds["polarization"].values)
    # xradio sorts the baselines by (antenna1, antenna2): match them by name.
    ours = list(
        zip(
            np.asarray(ds["baseline_antenna1_name"].values).astype(str),
            np.asarray(ds["baseline_antenna2_name"].values).astype(str),
        )
    )
    theirs = list(
        zip(
            np.asarray(xds["baseline_antenna1_name"].values).astype(str),
            np.asarray(xds["baseline_antenna2_name"].values).astype(str),
        )
    )
    assert sorted(ours) == sorted(theirs)
    order = np.array([ours.index(b) for b in theirs])
    ref = ds.isel(baseline_id=order)
    # MS DATA = conj(VISIBILITY) and UVW = -UVW (pyuvdata's flip_conj, which
    # xradio reads as stored): exact, both complex64.
    assert_array_equal(xds["VISIBILITY"].values, np.conj(ref["VISIBILITY"].values))
    assert_array_equal(xds["FLAG"].values, ref["FLAG"].values)
    assert_array_equal(xds["WEIGHT"].values, ref["WEIGHT"].values)
    assert_allclose(xds["UVW"].values, -ref["UVW"].values, rtol=0, atol=1e-9)
