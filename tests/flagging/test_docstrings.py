"""Each backend's docstrings name its own array type (africanus's feed_rotation bug)."""

from __future__ import annotations

import pytest

from dsa110 import flagging
from dsa110.flagging import cuda, kernels
from dsa110.flagging import dask as fdask


@pytest.mark.parametrize("name", kernels.__all__[1:])
def test_kernel_docstrings_name_numpy(name):
    doc = getattr(kernels, name).__doc__
    assert "numpy.ndarray" in doc and "dask.array" not in doc


@pytest.mark.parametrize(
    "name", [n for n in fdask.__all__ if n not in ("plane_chunks",)]
)
def test_dask_docstrings_name_dask(name):
    doc = getattr(fdask, name).__doc__
    assert "dask.array.Array" in doc


def test_cuda_docstring_names_cupy():
    assert "cupy.ndarray" in cuda.sumthreshold_1d.__doc__


@pytest.mark.parametrize(
    "name", [n for n in flagging.__all__ if n.startswith(("flag", "extend"))]
)
def test_public_functions_document_the_dataset(name):
    assert "xarray.Dataset" in getattr(flagging, name).__doc__
