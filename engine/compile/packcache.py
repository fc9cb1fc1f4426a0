"""Compiled rule packs, cached in this process and on disk.

Loading a pack (YAML with positions, schema checks, semantic checks, compilation) is most of
``xieshang advise``'s start-up and takes seconds for thousands of rules. The result — the checked
``Pack`` and its ``CompiledPack``, both immutable and free of engine handles — depends only on the
rule files, the roots they were loaded from, and the code and schemas that read them. So it is
kept:

* in this process, keyed by all of that, so loading the same pack twice compiles it once;
* on disk, under ``$XDG_CACHE_HOME/xieshang`` (else ``~/.cache/xieshang``; a relative
  ``XDG_CACHE_HOME`` is ignored, as the XDG specification says), keyed by a sha256 over the rule
  files' digest, the roots and display paths, the xieshang version, the Python version and the
  bytes of every engine module, message file and schema. Any change to any of them is a
  different key. Set ``XIESHANG_NO_CACHE=1`` to neither read nor write it.

The disk cache cannot run code. An entry is **data only**: JSON whose objects are rebuilt from a
fixed list of the engine's frozen dataclasses (no pickle, no import by name, no eval). Loading
checks, in order: the directory and the file are opened without following symlinks
(``O_NOFOLLOW``), are owned by the current user and writable by nobody else, the file is a
regular file of at most ``MAX_ENTRY_BYTES``; its header names this format and the key asked for;
the sha256 of the payload matches the header; the payload decodes into exactly a ``Pack`` and a
``CompiledPack``. Anything else — a truncated, foreign, hand-edited or planted file — is a miss:
the pack is compiled from its files as if there were no cache. Someone who can write your cache
directory can still give you a different *compiled pack* for a key (as someone who can write your
rule files can give you different rules); the cache never lets them run code.

The cache stays bounded: at most ``MAX_DISK_ENTRIES`` entries (the most recently used, by
modification time; a hit refreshes it), older ones and entries of earlier formats are deleted
whenever an entry is written. Packs with errors are never cached, and every cache failure is
silent: it only costs time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import secrets
import stat
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.compile import compiler
from engine.compile.compiler import CompiledPack
from engine.core import collector, facts, source
from engine.core.schemas import schema_dir
from engine.core.values import UNKNOWN
from engine.pack import model
from engine.pack.expr import nodes
from engine.pack.model import Pack
from engine.version import __version__

if TYPE_CHECKING:
    from engine.load.loader import PackFile

FORMAT = 5  #: bump when the cache layout changes (1 was a pickle: never read any more)
_MAGIC = b"xieshang-pack-cache"
_ENGINE_DIR = Path(__file__).resolve().parent.parent  # engine/
MEMORY_ENTRIES = 8  #: packs kept in this process (a 10,000-rule pack holds ~100 MB)
MAX_DISK_ENTRIES = 16  #: compiled packs kept on disk
MAX_ENTRY_BYTES = 256 * 1024 * 1024  #: larger files are not read (nor written)
#: names of files the cache owns: entries of any format, and temporary files of interrupted writes
_OWN_NAME = re.compile(r"[0-9a-f]{64}\.(json|pickle)|\.[0-9a-f]{64}\..*\.tmp")
_memory: dict[str, tuple[Pack, CompiledPack]] = {}


def cache_dir() -> Path | None:
    """Where compiled packs are kept on disk; None when the cache is switched off."""
    if os.environ.get("XIESHANG_NO_CACHE", "") not in ("", "0"):
        return None
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: invalid per the XDG spec
        base = os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # no usable home directory
        return None
    return Path(base) / "xieshang"


@functools.cache
def code_digest() -> bytes:
    """sha256 over the engine's modules, its messages (``engine/core/messages/*.yaml``, which every
    checked pack holds) and the schemas: what turns rule files into a pack.

    The engine's modules include those of its subpackages (``engine/pack/expr/``, …), named by their
    path below ``engine/``.
    """
    digest = hashlib.sha256()
    patterns = (
        (_ENGINE_DIR, "**/*.py"),
        (_ENGINE_DIR, "core/messages/*.yaml"),
        (schema_dir(), "*.json"),
    )
    for directory, pattern in patterns:
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


# --- the data-only format -------------------------------------------------------------------
#
# JSON values stand for themselves, except: an array is a tuple; {"L": [...]} a list,
# {"D": [[k, v], ...]} a dict, {"F": [...]} a frozenset, {"U": 0} the UNKNOWN value,
# {"C": name, "V": [fields...]} an instance of one of the classes below, and {"R": n} the n-th
# instance decoded so far (shared objects stay shared, as the compiled pack expects).


@functools.cache
def _classes() -> dict[str, type]:
    """The only classes an entry may hold: the engine's frozen, behaviour-free dataclasses."""
    classes: list[type] = [
        model.Pack,
        model.Rule,
        model.LocalText,
        model.Leaf,
        model.Group,
        model.Recommend,
        model.Derive,
        model.Adjust,
        model.Suppress,
        model.Parameter,
        model.ActionSpec,
        model.PlanSpec,
        model.DerivedFact,
        model.PlanSpec,  # the pack's plan: section
        model.CrisisSpec,  # the pack's crisis: section
        source.Location,
        nodes.Literal_,
        nodes.Name,
        nodes.Unary,
        nodes.Binary,
        nodes.Call,
        compiler.CompiledPack,
        compiler.CompiledRule,
        compiler.Branch,
        compiler.Pattern,
        compiler.Test,
        compiler.Shard,
        facts.FactSpec,
    ]
    return {f"{c.__module__}.{c.__qualname__}": c for c in classes}


def _fields(cls: type) -> tuple[str, ...]:
    return _FIELDS.get(cls) or _FIELDS.setdefault(
        cls, tuple(f.name for f in dataclasses.fields(cls) if f.init)
    )


_FIELDS: dict[type, tuple[str, ...]] = {}


class _Encoder:
    def __init__(self) -> None:
        self.names = {cls: name for name, cls in _classes().items()}
        self.seen: dict[int, int] = {}  #: id of an instance → its number

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, tuple):
            return [self.encode(v) for v in value]
        if isinstance(value, list):
            return {"L": [self.encode(v) for v in value]}
        if isinstance(value, frozenset):
            return {"F": sorted((self.encode(v) for v in value), key=repr)}
        if isinstance(value, dict):
            return {"D": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if value is UNKNOWN:
            return {"U": 0}
        name = self.names.get(type(value))
        if name is None:
            raise TypeError(f"cannot cache a {type(value).__name__}")
        if id(value) in self.seen:
            return {"R": self.seen[id(value)]}
        fields = [self.encode(getattr(value, f)) for f in _fields(type(value))]
        self.seen[id(value)] = len(self.seen)
        return {"C": name, "V": fields}


class _Decoder:
    def __init__(self) -> None:
        self.classes = _classes()
        self.built: list[Any] = []

    def decode(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float | str):
            return value
        if isinstance(value, list):
            return tuple(self.decode(v) for v in value)
        if not isinstance(value, dict) or len(value) not in (1, 2):
            raise ValueError("not a cache value")
        if "C" in value:
            cls = self.classes[value["C"]]  # KeyError: not a class we build
            names, items = _fields(cls), value["V"]
            if not isinstance(items, list) or len(items) != len(names):
                raise ValueError("wrong fields")
            instance = cls(**{n: self.decode(v) for n, v in zip(names, items, strict=True)})
            self.built.append(instance)
            return instance
        ((tag, inner),) = value.items()
        if tag == "R" and type(inner) is int and 0 <= inner < len(self.built):
            return self.built[inner]
        if tag == "U" and inner == 0:
            return UNKNOWN
        if not isinstance(inner, list):
            raise ValueError("not a cache value")
        if tag == "L":
            return [self.decode(v) for v in inner]
        if tag == "F":
            return frozenset(self.decode(v) for v in inner)
        if tag == "D":
            return {self.decode(k): self.decode(v) for k, v in inner}
        raise ValueError(f"unknown tag {tag!r}")


def dumps(key: str, pack: Pack, compiled: CompiledPack) -> bytes:
    """An entry: a header line (format, key, sha256 of the payload), then the payload."""
    payload = json.dumps(
        _Encoder().encode((pack, compiled)),
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    ).encode("utf-8")
    digest = hashlib.sha256(payload).hexdigest()
    return b"%s %d %s %s\n" % (_MAGIC, FORMAT, key.encode(), digest.encode()) + payload


def loads(key: str, data: bytes) -> tuple[Pack, CompiledPack] | None:
    """The pack and compiled pack of an entry for ``key``; None if anything about it is odd."""
    header, _, payload = data.partition(b"\n")
    parts = header.split(b" ")
    if parts[:3] != [_MAGIC, str(FORMAT).encode(), key.encode()] or len(parts) != 4:
        return None
    if hashlib.sha256(payload).hexdigest().encode() != parts[3]:
        return None
    collector.pause()  # hundreds of thousands of objects, none garbage: collecting triples the time
    try:
        pack, compiled = _Decoder().decode(json.loads(payload))
    except Exception:  # malformed in any way (including too deep): a miss
        return None
    finally:
        collector.resume()
    if not (isinstance(pack, Pack) and isinstance(compiled, CompiledPack)):
        return None
    return pack, compiled


# --- the directory --------------------------------------------------------------------------


def _private(info: os.stat_result) -> bool:
    """Owned by this user and writable by nobody else (nobody else can plant or alter it)."""
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


@contextlib.contextmanager
def _open_dir(directory: Path, *, create: bool) -> Iterator[int]:
    """The cache directory as a file descriptor: not a symlink, ours, private."""
    if create:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if not _private(os.fstat(fd)):
            raise PermissionError(f"{directory} is not private")
        yield fd
    finally:
        os.close(fd)


def get(key: str) -> tuple[Pack, CompiledPack] | None:
    """The cached pack for ``key``: from this process, else from disk, else None."""
    if key in _memory:
        return _memory[key]
    directory = cache_dir()
    if directory is None:
        return None
    try:
        with _open_dir(directory, create=False) as dir_fd:
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            fd = os.open(f"{key}.json", flags, dir_fd=dir_fd)
            try:
                info = os.fstat(fd)
                if not (
                    stat.S_ISREG(info.st_mode)
                    and _private(info)
                    and info.st_size <= MAX_ENTRY_BYTES
                ):
                    return None
                data = _read_all(fd, info.st_size)
                entry = loads(key, data)
                if entry is not None:
                    with contextlib.suppress(OSError):
                        os.utime(fd)  # recently used: evicted last
            finally:
                os.close(fd)
    except (OSError, ValueError):  # missing, a symlink, not ours: a miss
        return None
    if entry is None:
        return None
    _remember(key, entry)
    return entry


def _read_all(fd: int, size: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total <= size:  # never more than the size fstat gave (plus one byte to see growth)
        chunk = os.read(fd, size + 1 - total)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def put(key: str, pack: Pack, compiled: CompiledPack) -> None:
    """Remember a successfully compiled pack, in this process and (best effort) on disk."""
    _remember(key, (pack, compiled))
    directory = cache_dir()
    if directory is None:
        return
    try:
        data = dumps(key, pack, compiled)
        if len(data) > MAX_ENTRY_BYTES:
            return
        with _open_dir(directory, create=True) as dir_fd:
            temp = f".{key}.{secrets.token_hex(8)}.tmp"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(temp, flags, 0o600, dir_fd=dir_fd)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(temp, f"{key}.json", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=dir_fd)
                raise
            _evict(dir_fd, keep=f"{key}.json")
    except Exception:  # an unwritable cache only costs time
        pass


def _evict(dir_fd: int, keep: str) -> None:
    """Keep the ``MAX_DISK_ENTRIES`` most recently used entries; delete the rest."""
    entries: list[tuple[float, str]] = []
    for name in os.listdir(dir_fd):
        if not _OWN_NAME.fullmatch(name) or name == keep:
            continue
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
        if name.endswith(".json"):
            entries.append((info.st_mtime, name))
        elif name.endswith(".pickle") or info.st_mtime < time.time() - 3600:
            with contextlib.suppress(OSError):  # an old format, or an interrupted write
                os.unlink(name, dir_fd=dir_fd)
    entries.sort(reverse=True)
    for _, name in entries[MAX_DISK_ENTRIES - 1 :]:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=dir_fd)


def _remember(key: str, entry: tuple[Pack, CompiledPack]) -> None:
    _memory.pop(key, None)
    _memory[key] = entry
    while len(_memory) > MEMORY_ENTRIES:  # forget the oldest
        del _memory[next(iter(_memory))]


def clear_memory() -> None:
    """Forget the packs cached in this process (tests)."""
    _memory.clear()
