"""Exceptions with the CLI exit code each one maps to.

Exit codes (documented in README and ``faceforge --help``):

====  ==========================================================
0     success
1     internal error (a bug: please report it)
2     usage error (bad flags or arguments)
3     unreadable or invalid input file
4     no face found in the input
5     a required asset (model files) is missing or corrupt
====  ==========================================================
"""

from __future__ import annotations


class FaceforgeError(Exception):
    """Base class; ``exit_code`` is what the CLI returns for it."""

    exit_code: int = 1


class UsageError(FaceforgeError, ValueError):
    """Arguments that cannot be used (wrong shape, out of range, bad flag)."""

    exit_code = 2


class InputError(FaceforgeError):
    """An input file that cannot be read or is not what it claims to be."""

    exit_code = 3


class NoFaceError(FaceforgeError):
    """The input holds no detectable face."""

    exit_code = 4


class AssetError(FaceforgeError):
    """Model files are missing, corrupt, or cannot be fetched."""

    exit_code = 5
