"""The exception and warning hierarchy of ``dsa110``.

Every error raised by the library for bad input derives from :class:`DSA110Error`,
names the offending file or field, and never surfaces as a bare ``KeyError`` or
``IndexError``.
"""

from __future__ import annotations

__all__ = [
    "DSA110Error",
    "DSA110Warning",
    "EarthOrientationWarning",
    "FileFormatError",
    "CorruptFileError",
    "NotUVH5Error",
    "UnsupportedLayoutError",
    "GroupError",
    "MissingSubbandError",
    "DuplicateSubbandError",
    "InconsistentGroupError",
    "FrequencyOrderError",
    "ConfigurationError",
    "OutputExistsError",
]


class DSA110Error(Exception):
    """Base class of every error that ``dsa110`` raises for bad input or state."""


class DSA110Warning(UserWarning):
    """Base class of every warning that ``dsa110`` emits."""


class EarthOrientationWarning(DSA110Warning):
    """Earth-orientation (UT1−UTC, polar motion) values are extrapolated."""


class FileFormatError(DSA110Error, ValueError):
    """A file cannot be read as what it claims to be.

    Parameters
    ----------
    path : str
        The offending file.
    message : str
        What is wrong with it.
    field : str, optional
        The dataset or header field at fault.
    """

    def __init__(self, path, message, *, field=None):
        self.path = str(path)
        self.field = field
        where = f"{self.path}" + (f" [{field}]" if field else "")
        super().__init__(f"{where}: {message}")


class CorruptFileError(FileFormatError):
    """A file is truncated, unreadable, or internally inconsistent."""


class NotUVH5Error(FileFormatError):
    """An HDF5 (or other) file that is not a UVH5 visibility file."""


class UnsupportedLayoutError(FileFormatError):
    """A valid UVH5 file whose layout this library does not support."""


class GroupError(DSA110Error, ValueError):
    """A set of subband files does not form a valid observation group."""


class MissingSubbandError(GroupError):
    """One or more subbands of a group are absent."""

    def __init__(self, message, *, missing=()):
        self.missing = tuple(missing)
        super().__init__(message)


class DuplicateSubbandError(GroupError):
    """The same subband appears more than once in a group."""


class InconsistentGroupError(GroupError):
    """Subband files disagree on times, antennas, polarizations or pointing."""


class FrequencyOrderError(GroupError):
    """Frequencies are non-monotonic or overlap between files."""


class ConfigurationError(DSA110Error, ValueError):
    """An invalid option or configuration value."""


class OutputExistsError(DSA110Error, FileExistsError):
    """An output product exists already and ``overwrite`` was not requested."""
