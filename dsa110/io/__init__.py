"""Input and output: finding and grouping subband files, the lazy UVH5 reader,
the xarray backend, and (as they land) Measurement Set, zarr and UVH5 writers.
"""

from dsa110.io.groups import (
    DEFAULT_TOLERANCE_S,
    ObservationGroup,
    SubbandFile,
    find_groups,
    find_subband_files,
    group_files,
    parse_subband_filename,
)
from dsa110.io.ms import read_ms, write_ms
from dsa110.io.observation import load_observation, open_observation
from dsa110.io.uvh5 import UVH5Meta, read_uvh5_meta
from dsa110.io.uvh5_writer import write_uvh5
from dsa110.io.zarr_store import open_zarr, write_zarr

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "ObservationGroup",
    "SubbandFile",
    "UVH5Meta",
    "find_groups",
    "find_subband_files",
    "group_files",
    "load_observation",
    "open_observation",
    "parse_subband_filename",
    "open_zarr",
    "read_ms",
    "read_uvh5_meta",
    "write_ms",
    "write_uvh5",
    "write_zarr",
]
