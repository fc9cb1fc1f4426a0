"""Compiled rule packs, cached in this process and on disk.

Loading a pack (YAML with positions, schema checks, semantic checks, compilation) is most of
``xieshang advise``'s start-up and takes seconds for thousands of rules. The result — the checked
``Pack`` and its ``CompiledPack``, both immutable and free of engine handles — depends only on the
rule files, the roots they were loaded from, and the code and schemas that read them. So it is
kept:

* in this process, keyed by all of that, so loading the same pack twice compiles it once;
* on disk, as a pickle under ``$XDG_CACHE_HOME/xieshang`` (else ``~/.cache/xieshang``), keyed by a
  sha256 over the rule files' digest, the roots and display paths, the xieshang version, the
  Python version and the bytes of every engine module and schema. Any change to any of them is a
  different key. Set ``XIESHANG_NO_CACHE=1`` to neither read nor write it.

Every cache failure (unwritable directory, truncated or foreign file, unpickling error) is
silent: the pack is then loaded from its files as if there were no cache. Packs with errors are
never cached.

A pickle runs code when it is loaded, so a file is only read when it and its directory belong to
the current user and nobody else may write them; the directory is created with mode 0700.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from engine import __version__

if TYPE_CHECKING:
    from engine.compiler import CompiledPack
    from engine.loader import PackFile
    from engine.model import Pack

FORMAT = 1  #: bump when the cache layout changes
_ENGINE_DIR = Path(__file__).resolve().parent
MEMORY_ENTRIES = 8  #: packs kept in this process (a 10,000-rule pack holds ~100 MB)
_memory: dict[str, tuple[Pack, CompiledPack]] = {}


def cache_dir() -> Path | None:
    """Where compiled packs are kept on disk; None when the cache is switched off."""
    if os.environ.get("XIESHANG_NO_CACHE", "") not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "xieshang"


@functools.cache
def code_digest() -> bytes:
    """sha256 over the engine's modules and the schemas: what turns rule files into a pack.

    The engine's modules include those of its subpackages (``engine/expr/``, …), named by their
    path below ``engine/``.
    """
    from engine.schemas import schema_dir

    digest = hashlib.sha256()
    for directory, pattern in ((_ENGINE_DIR, "**/*.py"), (schema_dir(), "*.json")):
        for path in sorted(directory.glob(pattern)):
            name = path.relative_to(directory).as_posix()
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.digest()


def pack_key(roots: Sequence[str], files: Sequence[PackFile], digest: str) -> str:
    """The cache key of a pack read from ``roots`` whose files are ``files``."""
    key = hashlib.sha256()
    parts = [str(FORMAT), __version__, sys.version, digest]
    parts += [f"{root}\0{Path(root).resolve()}" for root in roots]
    parts += [f"{f.display}\0{f.relative}\0{f.path.resolve()}" for f in files]
    key.update("\0\0".join(parts).encode("utf-8", "surrogateescape"))
    key.update(code_digest())
    return key.hexdigest()


def _private(path: Path) -> bool:
    """Owned by this user and writable by nobody else (so nobody else can plant a pickle)."""
    try:
        info = path.stat()
    except OSError:
        return False
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


def get(key: str) -> tuple[Pack, CompiledPack] | None:
    """The cached pack for ``key``: from this process, else from disk, else None."""
    if key in _memory:
        return _memory[key]
    directory = cache_dir()
    if directory is None:
        return None
    path = directory / f"{key}.pickle"
    if not (_private(directory) and _private(path)):
        return None
    try:
        with open(path, "rb") as handle:
            stored = pickle.load(handle)
        from engine.compiler import CompiledPack
        from engine.model import Pack

        if not (
            isinstance(stored, tuple)
            and len(stored) == 3
            and stored[0] == key
            and isinstance(stored[1], Pack)
            and isinstance(stored[2], CompiledPack)
        ):
            return None
    except Exception:  # a missing, truncated or foreign file is a miss
        return None
    _remember(key, (stored[1], stored[2]))
    return stored[1], stored[2]


def put(key: str, pack: Pack, compiled: CompiledPack) -> None:
    """Remember a successfully compiled pack, in this process and (best effort) on disk."""
    _remember(key, (pack, compiled))
    directory = cache_dir()
    if directory is None:
        return
    temp = None
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump((key, pack, compiled), handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, directory / f"{key}.pickle")
        temp = None
    except Exception:  # an unwritable cache only costs time
        pass
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _remember(key: str, entry: tuple[Pack, CompiledPack]) -> None:
    _memory.pop(key, None)
    _memory[key] = entry
    while len(_memory) > MEMORY_ENTRIES:  # forget the oldest
        del _memory[next(iter(_memory))]


def clear_memory() -> None:
    """Forget the packs cached in this process (tests)."""
    _memory.clear()
