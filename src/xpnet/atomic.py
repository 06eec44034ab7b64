"""Atomic file writes: a reader (or a process started after a crash) sees the old file or the
new one, never a mix.

The data goes to a temporary file in the target's directory, is flushed and fsynced, and is then
renamed over the target (``os.replace`` is atomic on POSIX and Windows). A process killed
mid-write leaves only its temporary ``.<name>.*.part`` file, which the next successful write of
the same target removes. The file gets the permissions any new file of the user gets (mode 0666
less the umask, as ``open`` gives), not the owner-only mode of ``tempfile.mkstemp``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """``with atomic_write(p) as fh: fh.write(...)``: ``p`` appears complete or not at all."""
    path = Path(path)
    _make_folder(path)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for stale in path.parent.glob(f".{path.name}.*.part"):  # left by a killed writer
        stale.unlink(missing_ok=True)


def _make_folder(path: Path) -> None:
    """The folder ``path`` goes in, created if missing; an error in one line naming the file
    in the way, or the folder that cannot be written, rather than the bare OS error."""
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next(p for p in [path.parent, *path.parent.parents] if p.exists())
        raise NotADirectoryError(f"cannot write {path}: {blocker} is a file, not a "
                                 "folder") from None
    except PermissionError:
        raise PermissionError(f"cannot write {path}: no permission to create "
                              f"{path.parent}") from None


def _create_temporary(path: Path) -> tuple[int, str]:
    """A new file beside ``path``, opened exclusively with mode 0666: the kernel applies the
    umask, exactly as for a file written with ``open``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.part")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {path}")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path) as fh:
        fh.write(data)
