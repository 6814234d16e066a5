"""The gridder's per-support loops load from Numba's on-disk cache in a new process.

Numba keys a cached closure by its code and the pickled contents of its cells. A
cell holding another Numba dispatcher pickles with a uuid drawn afresh in every
process, so such a closure is compiled again by every pipeline process and Dask
worker (about 35 s per process for the two parallel footprint loops on 2 cores).
"""

import subprocess
import sys

from numba.core.dispatcher import Dispatcher

from dsa110.imaging.tiles import footprint_loops

_CELL_HASH = """
import hashlib
from numba.core.serialize import dumps
from dsa110.imaging.tiles import footprint_loops
for loop in footprint_loops(7, 9):
    cells = tuple(c.cell_contents for c in loop.py_func.__closure__ or ())
    print(hashlib.sha256(dumps(cells)).hexdigest())
"""


def test_footprint_loops_close_over_plain_constants_only():
    for loop in footprint_loops(7, 9):
        cells = [c.cell_contents for c in loop.py_func.__closure__ or ()]
        assert not any(isinstance(c, Dispatcher) for c in cells), loop.py_func.__name__


def test_footprint_loop_cache_keys_agree_between_processes():
    def cell_hashes():
        out = subprocess.run(
            [sys.executable, "-c", _CELL_HASH],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.split()

    first, second = cell_hashes(), cell_hashes()
    assert len(first) == 2
    assert first == second
