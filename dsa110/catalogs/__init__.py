"""Radio source catalogs: ingest, an indexed local store, crossmatching, calibrators.

Survey catalogs (NVSS, FIRST, VLASS, RACS-low) are read from their published
files into one canonical table (:mod:`dsa110.catalogs.surveys`), kept in a
declination-band-partitioned Parquet store with fast cone searches
(:class:`CatalogStore`), crossmatched into a master catalog with spectral
indices and resolved/confusion flags (:func:`build_master`, default radius
7.5″). :func:`synthetic_nvss` draws an NVSS-like sky for tests and demos.
The VLA calibrator list lives in :mod:`dsa110.catalogs.calibrators`.
"""

from dsa110.catalogs.calibrators import (
    PERLEY_BUTLER_2017,
    Calibrator,
    CalibratorNotFoundError,
    best_calibrator,
    calibrator_list,
    find_transit,
    find_transit_tile,
    get_calibrator,
    read_calibrator_csv,
    read_vla_calibrator_list,
    transit_times,
    write_calibrator_csv,
)
from dsa110.catalogs.crossmatch import (
    DEFAULT_RADIUS_ARCSEC,
    build_master,
    crossmatch,
    fit_power_law,
)
from dsa110.catalogs.store import (
    BAND_DEG,
    CatalogNotFoundError,
    CatalogStore,
    angular_separation,
)
from dsa110.catalogs.surveys import (
    CANONICAL_COLUMNS,
    FLAG_DUPLICATE,
    FLAG_QUALITY,
    FLAG_SIDELOBE,
    SURVEYS,
    read_survey,
    read_table,
    to_canonical,
)
from dsa110.catalogs.synthetic import nvss_counts, synthetic_nvss, to_nvss_vizier

__all__ = [
    "BAND_DEG",
    "CANONICAL_COLUMNS",
    "DEFAULT_RADIUS_ARCSEC",
    "FLAG_DUPLICATE",
    "FLAG_QUALITY",
    "FLAG_SIDELOBE",
    "PERLEY_BUTLER_2017",
    "SURVEYS",
    "Calibrator",
    "CalibratorNotFoundError",
    "CatalogNotFoundError",
    "CatalogStore",
    "angular_separation",
    "best_calibrator",
    "build_master",
    "calibrator_list",
    "crossmatch",
    "find_transit",
    "find_transit_tile",
    "fit_power_law",
    "get_calibrator",
    "nvss_counts",
    "read_calibrator_csv",
    "read_survey",
    "read_table",
    "read_vla_calibrator_list",
    "synthetic_nvss",
    "to_canonical",
    "to_nvss_vizier",
    "transit_times",
    "write_calibrator_csv",
]
