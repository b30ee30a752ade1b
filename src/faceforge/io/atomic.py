"""Atomic file output: every file is written to a temporary name in its destination folder, then renamed.

A reader never sees a partial file: either the old content (or nothing) or the complete new content. For outputs made
of several files (OBJ + MTL + PNG) all temporaries are written first and only then renamed, so a failure while
encoding or writing leaves no new file behind.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from faceforge.errors import UsageError

log = logging.getLogger(__name__)

_FILE_MODE = 0o644


def write_files_atomically(contents: Mapping[Path, bytes]) -> None:
    """Write several files so that none is visible until all are complete.

    Args:
        contents: destination path -> bytes. Parent folders must exist.
    Raises:
        UsageError: a destination folder does not exist or cannot be written.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in contents.items():
            path = Path(path)
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir():
                raise UsageError(f"{path}: the folder {folder} does not exist")
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
            except OSError as exc:
                raise UsageError(f"{path}: cannot write in {folder} ({exc.strerror})") from None
            staged.append((Path(tmp), path))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, _FILE_MODE)  # mkstemp creates 0600; outputs are ordinary files
        for tmp, path in staged:
            os.replace(tmp, path)
            log.debug("wrote %s", path)
        staged = []
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """Write one file through a temporary file in the same folder and ``os.replace``."""
    write_files_atomically({Path(path): data})
