"""UVH5 header reads that name the file and field of a damaged file; phasing metadata.

The phasing is read from old-style ``phase_type`` or a phase-centre catalog.

Every h5py call here catches :data:`~dsa110.io.h5handle.HDF5_DAMAGE` around the
call alone and raises :class:`~dsa110.errors.CorruptFileError`, so garbage in a
file's B-trees or object headers never surfaces as a bare h5py exception.
"""

from __future__ import annotations

import numpy as np

from dsa110.errors import CorruptFileError, UnsupportedLayoutError
from dsa110.io.h5handle import HDF5_DAMAGE

__all__ = [
    "text",
    "has",
    "node",
    "member_names",
    "value",
    "optional",
    "extra_keywords",
    "phase_info",
]


def text(raw) -> str:
    """Decode an HDF5 string (bytes, or a 0-d array of them) to ``str``."""
    if isinstance(raw, bytes | np.bytes_):
        return raw.decode("utf-8", errors="replace")
    if isinstance(raw, np.ndarray) and raw.shape == ():
        return text(raw[()])
    return str(raw)


def _field(prefix, name):
    return f"{prefix}/{name}" if prefix else name


def has(group, name, path, prefix="Header") -> bool:
    """Return ``name in group``.

    Raises :class:`CorruptFileError` naming ``path`` and ``prefix/name`` when
    HDF5 cannot read the group's links.
    """
    try:
        return name in group
    except HDF5_DAMAGE as exc:
        raise CorruptFileError(
            path, f"cannot read: {exc}", field=_field(prefix, name)
        ) from exc


def node(group, name, path, prefix="Header"):
    """Return ``group[name]``, a group or data set.

    Raises :class:`CorruptFileError` naming ``path`` and ``prefix/name`` when
    HDF5 cannot open it.
    """
    try:
        return group[name]
    except HDF5_DAMAGE as exc:
        raise CorruptFileError(
            path, f"cannot open: {exc}", field=_field(prefix, name)
        ) from exc


def member_names(group, path, field) -> list:
    """Return the names in ``group``; a damaged one raises :class:`CorruptFileError`."""
    try:
        return list(group.keys())
    except HDF5_DAMAGE as exc:
        raise CorruptFileError(path, f"cannot read: {exc}", field=field) from exc


def value(group, name, path, prefix="Header"):
    """Return the value of data set ``name`` of ``group``.

    Raises :class:`CorruptFileError` naming ``path`` and ``prefix/name`` when it
    is missing or HDF5 cannot read it.
    """
    try:
        return group[name][()]
    except HDF5_DAMAGE as exc:
        raise CorruptFileError(
            path, f"missing or unreadable: {exc}", field=_field(prefix, name)
        ) from exc


def optional(group, name, path, default, prefix="Header"):
    """Return the value of data set ``name`` of ``group``, ``default`` if absent."""
    if not has(group, name, path, prefix):
        return default
    return value(group, name, path, prefix)


def extra_keywords(header, path) -> dict:
    """Return ``Header/extra_keywords`` as a dict of scalars, strings and arrays."""
    if not has(header, "extra_keywords", path):
        return {}
    prefix = "Header/extra_keywords"
    group = node(header, "extra_keywords", path)
    extra = {}
    for key in member_names(group, path, prefix):
        v = value(group, key, path, prefix)
        extra[key] = (
            text(v)
            if isinstance(v, bytes | np.bytes_)
            else (v.item() if np.ndim(v) == 0 and hasattr(v, "item") else v)
        )
    return extra


_CATALOG = "Header/phase_center_catalog"


def _catalog_entry(catalog, key, path):
    """Return ICRS ``(lon, lat)`` radians of one catalog entry, None if unprojected."""
    prefix = f"{_CATALOG}/{key}"
    entry = node(catalog, key, path, _CATALOG)
    cat_type = text(optional(entry, "cat_type", path, "sidereal", prefix))
    if cat_type == "unprojected":
        return None
    if cat_type != "sidereal":
        raise UnsupportedLayoutError(
            path,
            f"phase centre type {cat_type!r}; only unprojected and sidereal "
            "are supported",
            field=prefix,
        )
    frame = text(optional(entry, "cat_frame", path, "icrs", prefix))
    if frame not in ("icrs", "fk5"):
        raise UnsupportedLayoutError(
            path,
            f"phase centre frame {frame!r}; only icrs/fk5 J2000 are supported",
            field=prefix,
        )
    return (
        float(value(entry, "cat_lon", path, prefix)),
        float(value(entry, "cat_lat", path, prefix)),
    )


def _catalog_phasing(header, path, n_time, n_bl):
    """Phasing from a phase-centre catalog (pyuvdata ≥ 2.2).

    One unprojected entry is a drift scan; sidereal entries, one or one per
    integration (``Header/phase_center_id_array``, the same for every baseline of
    an integration), give each integration's centre.
    """
    catalog = node(header, "phase_center_catalog", path)
    keys = member_names(catalog, path, _CATALOG)
    if not keys or not all(k.isdigit() for k in keys):
        raise CorruptFileError(
            path, f"catalog ids {keys}: expected integers", field=_CATALOG
        )
    entries = {int(k): _catalog_entry(catalog, k, path) for k in keys}
    if len(entries) == 1:
        (centre,) = entries.values()
        return ("drift", None) if centre is None else ("sidereal", [centre] * n_time)
    if any(centre is None for centre in entries.values()):
        raise UnsupportedLayoutError(
            path,
            f"{len(entries)} phase centres, some unprojected; several centres are "
            "supported when all are sidereal",
            field=_CATALOG,
        )
    ids = np.asarray(value(header, "phase_center_id_array", path)).reshape(-1)
    if ids.size != n_time * n_bl:
        raise CorruptFileError(
            path,
            f"{ids.size} entries, expected Nblts = {n_time * n_bl}",
            field="Header/phase_center_id_array",
        )
    ids = ids.reshape(n_time, n_bl)
    if not np.all(ids == ids[:, :1]):
        raise UnsupportedLayoutError(
            path,
            "the phase centre changes between baselines of one integration; "
            "only one centre per integration is supported",
            field="Header/phase_center_id_array",
        )
    unknown = sorted(set(ids[:, 0].tolist()) - set(entries))
    if unknown:
        raise CorruptFileError(
            path,
            f"ids {unknown} are not in the phase-centre catalog",
            field="Header/phase_center_id_array",
        )
    return "sidereal", [entries[int(i)] for i in ids[:, 0]]


def phase_info(header, path, n_time, n_bl):
    """Return ``(phase_type, centres)`` from old- or new-style phase metadata.

    ``centres`` is ``(n_time, 2)`` float64 ICRS (ra, dec) radians of each
    integration for ``"sidereal"`` files, None for ``"drift"``.
    """
    if has(header, "phase_center_catalog", path):
        phase_type, centres = _catalog_phasing(header, path, n_time, n_bl)
    else:
        phase_type, centres = _old_style_phasing(header, path, n_time)
    if centres is not None:
        centres = np.asarray(centres, dtype=np.float64).reshape(n_time, 2)
    return phase_type, centres


def _old_style_phasing(header, path, n_time):
    """Phasing from pyuvdata < 2.2's ``phase_type`` (DSA-110's correlator)."""
    phase_type = text(optional(header, "phase_type", path, "drift"))
    if phase_type == "drift":
        return "drift", None
    if phase_type == "phased":
        epoch = float(optional(header, "phase_center_epoch", path, 2000.0))
        if abs(epoch - 2000.0) > 1e-6:
            raise UnsupportedLayoutError(
                path, f"phase centre epoch {epoch}", field="Header/phase_center_epoch"
            )
        centre = (
            float(value(header, "phase_center_ra", path)),
            float(value(header, "phase_center_dec", path)),
        )
        return "sidereal", [centre] * n_time
    raise UnsupportedLayoutError(
        path, f"phase_type {phase_type!r}", field="Header/phase_type"
    )
