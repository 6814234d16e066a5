"""Finding DSA-110 subband files and grouping them into observations.

The 16 files of one observation (``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``) carry
timestamps that differ by tens of seconds, so files are grouped by time: a new
group starts when a file's timestamp is more than ``tolerance`` seconds after the
current group's FIRST file. Only file names are parsed here (tens of thousands of
files in milliseconds); the reader then trusts each file's ``time_array``.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dsa110.errors import DSA110Warning, DuplicateSubbandError, GroupError
from dsa110.telescope.frequencies import N_SUBBANDS

__all__ = [
    "SubbandFile",
    "ObservationGroup",
    "parse_subband_filename",
    "find_subband_files",
    "group_files",
    "find_groups",
    "DEFAULT_TOLERANCE_S",
]

#: Default grouping tolerance, seconds.
DEFAULT_TOLERANCE_S = 60.0

_NAME = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?)_sb(?P<sb>\d{2})\.hdf5$"
)


@dataclass(frozen=True, order=True)
class SubbandFile:
    """One subband file, known from its name only.

    Attributes
    ----------
    timestamp : datetime
        UTC time in the file name.
    subband : int
        Subband number from ``_sbNN``.
    path : Path
        The file.
    """

    timestamp: datetime
    subband: int
    path: Path


@dataclass
class ObservationGroup:
    """The subband files of one observation (tile).

    Attributes
    ----------
    files : list of SubbandFile
        Sorted by subband.
    expected_subbands : tuple of int
        Subbands a complete group has (0..15).
    """

    files: list[SubbandFile]
    expected_subbands: tuple[int, ...] = field(default=tuple(range(N_SUBBANDS)))

    @property
    def start(self) -> datetime:
        """Earliest file timestamp (UTC)."""
        return min(f.timestamp for f in self.files)

    @property
    def group_id(self) -> str:
        """The group's id: its earliest file timestamp, ``YYYY-MM-DDTHH:MM:SS``."""
        return _format_id(self.start)

    @property
    def partial_ids(self) -> tuple[str, ...]:
        """The ids this group had with only some of its files present.

        A group's id is its earliest file's timestamp: while that file was
        missing, the same tile went by a later file's timestamp. These are the
        ids of its files' timestamps, sorted, its own id first.
        """
        return tuple(sorted({_format_id(f.timestamp) for f in self.files}))

    @property
    def subbands(self) -> tuple[int, ...]:
        """Subbands present, sorted."""
        return tuple(sorted(f.subband for f in self.files))

    @property
    def missing(self) -> tuple[int, ...]:
        """Expected subbands that are absent."""
        have = set(self.subbands)
        return tuple(sb for sb in self.expected_subbands if sb not in have)

    @property
    def duplicated(self) -> tuple[int, ...]:
        """Subbands that appear more than once."""
        seen, dup = set(), set()
        for f in self.files:
            (dup if f.subband in seen else seen).add(f.subband)
        return tuple(sorted(dup))

    @property
    def complete(self) -> bool:
        """True when every expected subband is present exactly once."""
        return not self.missing and not self.duplicated

    @property
    def paths(self) -> list[Path]:
        """File paths sorted by subband."""
        return [
            f.path for f in sorted(self.files, key=lambda f: (f.subband, f.timestamp))
        ]

    def check_unique(self) -> None:
        """Raise :class:`DuplicateSubbandError` if a subband appears twice."""
        if self.duplicated:
            names = [str(f.path) for f in self.files if f.subband in self.duplicated]
            raise DuplicateSubbandError(
                f"group {self.group_id}: subband(s) "
                f"{', '.join(f'sb{sb:02d}' for sb in self.duplicated)} appear more "
                f"than once: {', '.join(names)}"
            )

    def __repr__(self) -> str:
        return (
            f"ObservationGroup({self.group_id}, {len(self.files)} files, "
            f"missing={list(self.missing)})"
        )


def _format_id(timestamp: datetime) -> str:
    return timestamp.strftime("%Y-%m-%dT%H:%M:%S")


def parse_subband_filename(path) -> SubbandFile | None:
    """Parse ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``; return None for other names.

    Parameters
    ----------
    path : str or Path
        A file path.

    Returns
    -------
    SubbandFile or None

    Raises
    ------
    GroupError
        If the name has the pattern but not a valid time (``23:59:60``, month 13).
    """
    p = Path(path)
    m = _NAME.match(p.name)
    if m is None:
        return None
    try:
        ts = datetime.fromisoformat(m["ts"]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise GroupError(f"{p}: the time in the file name is invalid ({exc})") from exc
    return SubbandFile(ts, int(m["sb"]), p)


def _as_utc(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if hasattr(value, "to_datetime"):  # astropy Time
        return value.utc.to_datetime(timezone=UTC)
    dt = datetime.fromisoformat(str(value))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def find_subband_files(directory, *, start=None, end=None) -> list[SubbandFile]:
    """List the subband files in ``directory`` (not recursive), sorted by time.

    Parameters
    ----------
    directory : str or Path
        Where the correlator writes its files.
    start, end : datetime, str or astropy Time, optional, keyword-only
        Keep files whose name time lies in ``[start, end]``.

    Returns
    -------
    list of SubbandFile
        A file whose name has the pattern but an invalid time
        (``23:59:60_sb03.hdf5``) is left out, with a warning naming it.

    Raises
    ------
    GroupError
        If ``directory`` does not exist or is not a directory.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise GroupError(f"{directory}: not a directory")
    t0, t1 = _as_utc(start), _as_utc(end)
    out = []
    with os.scandir(directory) as it:
        for entry in it:
            try:
                parsed = parse_subband_filename(entry.path)
            except GroupError as exc:
                warnings.warn(f"skipped: {exc}", DSA110Warning, stacklevel=2)
                continue
            if parsed is None:
                continue
            if t0 is not None and parsed.timestamp < t0:
                continue
            if t1 is not None and parsed.timestamp > t1:
                continue
            out.append(parsed)
    out.sort()
    return out


def group_files(
    files, *, tolerance: float = DEFAULT_TOLERANCE_S
) -> list[ObservationGroup]:
    """Group subband files into observations by time.

    A group starts at its earliest file; every later file whose timestamp is
    within ``tolerance`` seconds of that first file joins it, the next one
    starts a new group.

    Parameters
    ----------
    files : iterable of SubbandFile or path-like
        Files to group (paths are parsed; unparseable names raise).
    tolerance : float, keyword-only
        Seconds.

    Returns
    -------
    list of ObservationGroup
        In time order.

    Raises
    ------
    GroupError
        If a path's name is not ``YYYY-MM-DDTHH:MM:SS_sbNN.hdf5``.
    """
    parsed = []
    for f in files:
        if not isinstance(f, SubbandFile):
            g = parse_subband_filename(f)
            if g is None:
                raise GroupError(f"{f}: name is not YYYY-MM-DDTHH:MM:SS_sbNN.hdf5")
            f = g
        parsed.append(f)
    parsed.sort()
    groups: list[ObservationGroup] = []
    limit = timedelta(seconds=tolerance)
    for f in parsed:
        if groups and f.timestamp - groups[-1].files[0].timestamp <= limit:
            groups[-1].files.append(f)
        else:
            groups.append(ObservationGroup([f]))
    for g in groups:
        g.files.sort(key=lambda f: (f.subband, f.timestamp))
    return groups


def find_groups(
    directory, *, start=None, end=None, tolerance: float = DEFAULT_TOLERANCE_S
) -> list[ObservationGroup]:
    """Find the observation groups in ``directory``, optionally in a time range.

    Parameters
    ----------
    directory : str or Path
        Directory holding ``*_sbNN.hdf5`` files.
    start, end : datetime, str or astropy Time, optional, keyword-only
        Keep groups whose start lies in ``[start, end]``.
    tolerance : float, keyword-only
        Grouping tolerance in seconds (default 60).

    Returns
    -------
    list of ObservationGroup
        In time order; each reports its id, start, subbands present and missing.
    """
    t0, t1 = _as_utc(start), _as_utc(end)
    # Widen the file window by the tolerance on both sides so that groups at
    # the edges are neither cut nor mis-grouped, then select groups by start.
    pad = timedelta(seconds=tolerance)
    files = find_subband_files(
        directory,
        start=None if t0 is None else t0 - pad,
        end=None if t1 is None else t1 + pad,
    )
    groups = group_files(files, tolerance=tolerance)
    return [
        g
        for g in groups
        if (t0 is None or g.start >= t0) and (t1 is None or g.start <= t1)
    ]
