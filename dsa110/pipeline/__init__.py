"""The pipeline: configuration, stages, and runners on Dask, recording into the database.

``process_tile`` is the unit of work; ``run_batch`` processes every tile of a
directory (calibrator tiles first) in this process or on a Dask cluster;
``run_demo`` simulates a small multi-day observation and runs it all.
"""

from dsa110.pipeline.batch import (
    find_tiles,
    order_tiles,
    reprocess,
    run_batch,
    start_client,
)
from dsa110.pipeline.config import PipelineConfig, apply_overrides, load_config
from dsa110.pipeline.context import PipelineContext
from dsa110.pipeline.stages import CalibrationUnavailableError
from dsa110.pipeline.tile import TileResult, process_tile

__all__ = [
    "CalibrationUnavailableError",
    "PipelineConfig",
    "PipelineContext",
    "TileResult",
    "apply_overrides",
    "find_tiles",
    "load_config",
    "order_tiles",
    "process_tile",
    "reprocess",
    "run_batch",
    "start_client",
]
