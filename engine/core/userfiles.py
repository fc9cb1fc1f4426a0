"""Reading the user's files: every read bounded before it happens, only regular files accepted.

One helper for every file a user hands us (situations, rule files, test files, ``situation_file``,
batch input, audit logs). The hazards it removes:

* **Unbounded reads.** At most ``limit + 1`` bytes are ever read, and a regular file whose size
  is already over the limit is refused before its first byte is read. ``/dev/zero``, a 600 MB
  file or an endless pipe therefore cost a bounded amount of memory and time.
* **Blocking opens.** Files are opened with ``O_NONBLOCK``, so opening a FIFO that has no writer
  returns at once; ``fstat`` then refuses anything that is not a regular file (a FIFO, a device, a
  socket, a directory) where a regular file is expected. A symlink is followed, and what it
  points to is what is checked.
* **Unclear failures.** Every problem is a :class:`ReadProblem` whose message names what is wrong
  in a few words (``no such file``, ``is a directory``, ``is a FIFO, not a regular file``, ``is
  600,000,000 bytes; the limit is 2,000,000``); callers add the path and turn it into their own
  error type (a situation error, a rule error with file:line, ...).

Standard input is read with :func:`read_stream`: it may be a pipe or a terminal, and it is
bounded the same way.
"""

from __future__ import annotations

import errno
import os
import select
import stat
from pathlib import Path
from typing import IO

MAX_YAML_BYTES = 2_000_000  #: largest rule or test file

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class ReadProblem(Exception):
    """A user file could not be read. ``reason`` is short and does not repeat the path."""

    def __init__(self, reason: str, *, too_large: bool = False, size: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large  #: the content is over the limit (``size`` bytes, if known)
        self.size = size


def kind_of(mode: int) -> str:
    """``a directory``, ``a FIFO (named pipe)``, ... for a file that is not regular."""
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def too_large(size: int | None, limit: int) -> ReadProblem:
    shown = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    return ReadProblem(f"is {shown}; the limit is {limit:,}", too_large=True, size=size)


def reason_of(exc: OSError) -> str:
    """A short reason for an OSError, without the path (``permission denied``)."""
    if exc.errno == errno.ENOENT:
        return "no such file"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    if exc.errno == errno.ELOOP:
        return "is a symlink loop"
    text = exc.strerror or type(exc).__name__
    return text[:1].lower() + text[1:]


def open_regular(path: str | Path, *, allow_fifo: bool = False) -> int:
    """Open ``path`` for reading without blocking; refuse what is not a regular file.

    Returns a file descriptor in blocking mode, positioned at the start. ``allow_fifo`` accepts a
    pipe too (batch input streams from one, e.g. ``<(zcat in.jsonl.gz)``); for a named pipe
    whose writer has not opened it yet, this waits for the writer, as ``cat < fifo`` does.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ReadProblem(reason_of(exc)) from None
    except ValueError:  # a NUL byte in the name
        raise ReadProblem("is not a valid file name") from None
    try:
        info = os.fstat(fd)
        if not (stat.S_ISREG(info.st_mode) or (allow_fifo and stat.S_ISFIFO(info.st_mode))):
            raise ReadProblem(f"is {kind_of(info.st_mode)}, not a regular file")
        if stat.S_ISFIFO(info.st_mode):
            return _writer_connected(fd)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _writer_connected(fd: int) -> int:
    """A pipe read before any writer opened it reads as empty at once: wait until it has data or
    its writer came and went (poll reports no hang-up before a first writer), then block."""
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    waiting.poll()
    os.set_blocking(fd, True)
    return fd


def read_file(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file at ``path``, refused if it holds more than ``limit``."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            raise too_large(size, limit)
        return _read_bounded(fd, limit)
    except OSError as exc:
        raise ReadProblem(reason_of(exc)) from None
    finally:
        os.close(fd)


def read_stream(stream: IO[bytes] | None, limit: int) -> bytes:
    """At most ``limit`` bytes of a binary stream (stdin); more is refused without reading it all.

    ``None`` (Python's stdin when file descriptor 0 is closed) is refused as closed.
    """
    if stream is None:
        raise ReadProblem("is closed")
    try:
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = stream.read(limit + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise ReadProblem(reason_of(exc)) from None
    except ValueError:  # reading a closed file object
        raise ReadProblem("is closed") from None
    if total > limit:
        raise too_large(None, limit)
    return b"".join(chunks)


def _read_bounded(fd: int, limit: int) -> bytes:
    """Read until end of file, but never more than ``limit + 1`` bytes (a file may grow)."""
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, min(limit + 1 - total, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise too_large(None, limit)
    return b"".join(chunks)
