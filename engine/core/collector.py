"""The cyclic garbage collector paused for bursts of allocation that make no garbage cycles.

Loading a pack, decoding a cached one, lowering it, an evaluation and an advice document each
make thousands to millions of objects and free almost none; a collection in the middle finds
nothing to free but walks (and promotes) what is being built, and enough promotions start a full
collection of every object of the loaded packs (measured: about 40% of a 10,000-rule load; an
evaluation + advice at 10,000 rules 14.9 → 7.1 ms, bench/RESULTS.md section k).

Pauses are counted process-wide: the collector is disabled when the first pause starts and
enabled again when the last one ends, and only if it was enabled when the first started (a
collector the caller disabled stays disabled). So an evaluation on one thread never turns the
collector back on while another thread is still inside its own pause (the web service evaluates
on several threads).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_active = 0  #: pauses begun and not yet ended, on any thread
_restore = False  #: whether the collector was enabled when the first of them began


def pause() -> None:
    """Begin a pause; every call must be matched by one ``resume`` (use ``try``/``finally``)."""
    global _active, _restore
    with _lock:
        if not _active:
            _restore = gc.isenabled()
            gc.disable()
        _active += 1


def resume() -> None:
    """End a pause; the last one to end restores the collector as the first one found it."""
    global _active
    with _lock:
        _active -= 1
        if not _active and _restore:
            gc.enable()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """``pause()`` … ``resume()`` around a block."""
    pause()
    try:
        yield
    finally:
        resume()
