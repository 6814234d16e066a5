"""The visibility dataset's schema: dims, coordinates, variables and units, declared once.

Every stage of ``dsa110`` takes and returns an :class:`xarray.Dataset` that follows
this schema, and every reader and writer converts to and from it exactly.

Conventions
-----------
* Dimensions use the MSv4/xradio names: ``time``, ``baseline_id``, ``frequency``,
  ``polarization`` and ``uvw_label``; antenna metadata lives on ``antenna_name``.
* ``time`` is the centre of each integration in seconds since 1970-01-01 UTC
  (``format="unix"``, ``scale="utc"``, as xradio).
* ``frequency`` is the channel centre in Hz, ASCENDING.
* Baseline ``(i, j)`` has ``UVW = x_j − x_i`` (metres, ICRS-aligned axes: ``v``
  toward the ICRS north pole, ``w`` toward the phase centre) and the measurement
  equation is ``V_ij = Σ S · exp(+2πi (u l + v m + w (n − 1)) / λ)`` — the UVH5
  (pyuvdata) convention. Measurement Set writers conjugate DATA and negate UVW
  to keep this form in terms of the MS's own UVW; gains in the other convention
  are conjugates of ours.
* ``WEIGHT`` is the UVH5 ``nsamples`` (fraction of the integration that was
  accumulated) and ``FLAG`` is True for bad data; there are no sentinel values.
* The phase centre of each integration is carried in the ``phase_center_ra`` and
  ``phase_center_dec`` coordinates (ICRS, radians, per ``time``); the pointing
  declination in the ``pointing_dec`` attribute (radians).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsa110.errors import DSA110Error

__all__ = [
    "TIME",
    "BASELINE",
    "FREQUENCY",
    "POLARIZATION",
    "UVW_LABEL",
    "ANTENNA",
    "XYZ_LABEL",
    "VariableSpec",
    "DATA_VARS",
    "COORDS",
    "REQUIRED_ATTRS",
    "POLARIZATION_CODES",
    "SchemaError",
    "validate",
]

#: Integration centre times (unix seconds, UTC).
TIME = "time"
#: Baselines in the order of the source (the correlator's order for DSA-110).
BASELINE = "baseline_id"
#: Channel centre frequencies (Hz, ascending).
FREQUENCY = "frequency"
#: Correlation products (``"XX"``, ``"YY"`` for DSA-110).
POLARIZATION = "polarization"
#: ``u``, ``v``, ``w``.
UVW_LABEL = "uvw_label"
#: Antenna (station) names.
ANTENNA = "antenna_name"
#: ``x``, ``y``, ``z`` of ITRF/ECEF positions.
XYZ_LABEL = "xyz_label"

#: AIPS/pyuvdata polarization codes and their labels.
POLARIZATION_CODES = {
    1: "I",
    2: "Q",
    3: "U",
    4: "V",
    -1: "RR",
    -2: "LL",
    -3: "RL",
    -4: "LR",
    -5: "XX",
    -6: "YY",
    -7: "XY",
    -8: "YX",
}


@dataclass(frozen=True)
class VariableSpec:
    """One variable or coordinate of the schema.

    Attributes
    ----------
    dims : tuple of str
        Its dimensions, in order.
    dtype : numpy.dtype kind or tuple of kinds
        Allowed dtype kinds (``"c"``, ``"f"``, ``"b"``, ``"i"``, ``"U"``...).
    units : str or None
        Physical unit, stored in ``attrs["units"]``.
    description : str
        What it is.
    rtol, atol : float
        Tolerances for comparing two datasets' values of this variable.
    """

    dims: tuple
    dtype: tuple
    units: str | None
    description: str
    rtol: float = 0.0
    atol: float = 0.0


DATA_VARS = {
    "VISIBILITY": VariableSpec(
        (TIME, BASELINE, FREQUENCY, POLARIZATION),
        ("c",),
        "Jy",
        "complex visibilities, UVH5 sign convention",
        rtol=1e-6,
        atol=0.0,
    ),
    "FLAG": VariableSpec(
        (TIME, BASELINE, FREQUENCY, POLARIZATION),
        ("b",),
        None,
        "True where data are bad",
    ),
    "WEIGHT": VariableSpec(
        (TIME, BASELINE, FREQUENCY, POLARIZATION),
        ("f",),
        None,
        "number of samples accumulated (UVH5 nsamples)",
        rtol=1e-6,
    ),
    "UVW": VariableSpec(
        (TIME, BASELINE, UVW_LABEL),
        ("f",),
        "m",
        "baseline coordinates x_j - x_i toward each integration's phase centre",
        atol=1e-3,
    ),
}

COORDS = {
    TIME: VariableSpec(
        (TIME,), ("f",), "s", "integration centre, unix seconds UTC", atol=1e-3
    ),
    BASELINE: VariableSpec((BASELINE,), ("i",), None, "baseline index"),
    FREQUENCY: VariableSpec(
        (FREQUENCY,), ("f",), "Hz", "channel centre, ascending", rtol=1e-12
    ),
    POLARIZATION: VariableSpec((POLARIZATION,), ("U",), None, "correlation label"),
    UVW_LABEL: VariableSpec((UVW_LABEL,), ("U",), None, "u, v, w"),
    "baseline_antenna1_name": VariableSpec((BASELINE,), ("U",), None, "first antenna"),
    "baseline_antenna2_name": VariableSpec((BASELINE,), ("U",), None, "second antenna"),
    "antenna1": VariableSpec((BASELINE,), ("i",), None, "first antenna number"),
    "antenna2": VariableSpec((BASELINE,), ("i",), None, "second antenna number"),
    "channel_width": VariableSpec(
        (FREQUENCY,), ("f",), "Hz", "channel width", rtol=1e-12
    ),
    "integration_time": VariableSpec(
        (TIME,), ("f",), "s", "integration length", rtol=1e-9
    ),
    "phase_center_ra": VariableSpec(
        (TIME,), ("f",), "rad", "ICRS RA of the phase centre", atol=1e-9
    ),
    "phase_center_dec": VariableSpec(
        (TIME,), ("f",), "rad", "ICRS Dec of the phase centre", atol=1e-9
    ),
    ANTENNA: VariableSpec((ANTENNA,), ("U",), None, "antenna name"),
    "antenna_number": VariableSpec((ANTENNA,), ("i",), None, "antenna number"),
    "antenna_position": VariableSpec(
        (ANTENNA, XYZ_LABEL), ("f",), "m", "ITRF/ECEF position", atol=1e-3
    ),
    "antenna_diameter": VariableSpec((ANTENNA,), ("f",), "m", "dish diameter"),
    XYZ_LABEL: VariableSpec((XYZ_LABEL,), ("U",), None, "x, y, z"),
}

#: Attributes every visibility dataset carries.
REQUIRED_ATTRS = (
    "telescope_name",
    "site_latitude",
    "site_longitude",
    "site_height",
    "pointing_dec",
    "phase_center_type",
    "source_files",
)


class SchemaError(DSA110Error, ValueError):
    """A dataset does not follow the visibility schema."""


def validate(ds, *, check_values: bool = False) -> None:
    """Check that ``ds`` follows the visibility schema.

    Parameters
    ----------
    ds : xarray.Dataset
        The dataset to check.
    check_values : bool, keyword-only
        Also check cheap value invariants (ascending frequency, finite UVW) on
        coordinates; data variables are never computed.

    Raises
    ------
    SchemaError
        Naming the first offending variable, coordinate or attribute.
    """
    for name, spec in {**DATA_VARS, **COORDS}.items():
        if name not in ds.variables:
            raise SchemaError(f"missing variable or coordinate {name!r}")
        var = ds.variables[name]
        if tuple(var.dims) != spec.dims:
            raise SchemaError(f"{name!r} has dims {var.dims}, expected {spec.dims}")
        if np.dtype(var.dtype).kind not in spec.dtype and not (
            "U" in spec.dtype and np.dtype(var.dtype).kind == "O"
        ):
            raise SchemaError(
                f"{name!r} has dtype {var.dtype}, expected kind {spec.dtype}"
            )
    for attr in REQUIRED_ATTRS:
        if attr not in ds.attrs:
            raise SchemaError(f"missing attribute {attr!r}")
    if check_values:
        freq = np.asarray(ds[FREQUENCY].values)
        if freq.size > 1 and not np.all(np.diff(freq) > 0):
            raise SchemaError("frequency is not strictly ascending")
