"""Finding data files, and downloading them with checksum verification and atomic writes.

A data directory holds one sub-directory per dataset (``<data_dir>/mnist/...``). Files are
looked for in the ``data_dir`` argument, then ``$XPNET_DATA_DIR``, then the per-user cache
(``$XDG_CACHE_HOME/xpnet`` or ``~/.cache/xpnet``); downloads go to the first of those that was
given, else to the cache.

A download is written to a temporary file beside its target, verified, and only then renamed
into place, so a failed, partial or tampered download never leaves a file that looks valid.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ..atomic import write_bytes
from ..errors import DataError


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xpnet"


def search_dirs(data_dir: str | Path | None) -> list[Path]:
    """The data directories to search, in order."""
    dirs = [Path(data_dir)] if data_dir else []
    if os.environ.get("XPNET_DATA_DIR"):
        dirs.append(Path(os.environ["XPNET_DATA_DIR"]))
    dirs.append(cache_dir())
    return dirs


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def download(
    urls: list[str], target: Path, verify: Callable[[bytes], str | None], *,
    timeout: float = 60.0, progress: bool = True,
) -> None:
    """Fetch the first URL that works into ``target``: temp file, ``verify(bytes)`` (None when
    the content is right, else the reason), then an atomic rename. Raises DataError if no
    mirror gives a verified file; nothing is left behind in that case."""
    target.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for url in urls:
        try:
            if progress:
                again = f" (the previous mirror failed: {errors[-1]})" if errors else ""
                print(f"downloading {url}{again}", file=sys.stderr)
            with urllib.request.urlopen(url, timeout=timeout) as response:
                data = _read(response, progress, target.name)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
            continue
        problem = verify(data)
        if problem:
            errors.append(f"{url}: {problem}")
            continue
        write_bytes(target, data)
        return
    raise DataError(f"could not download {target.name} from any mirror:\n  "
                    + "\n  ".join(errors))


def _read(response, progress: bool, name: str) -> bytes:
    """The whole response body, with a byte counter on a terminal (tqdm) when asked."""
    bar = None
    if progress and sys.stderr.isatty():
        try:
            from tqdm.auto import tqdm

            total = int(response.headers.get("Content-Length") or 0) or None
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False)
        except ImportError:
            pass
    chunks = []
    while chunk := response.read(1 << 16):
        chunks.append(chunk)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return b"".join(chunks)

