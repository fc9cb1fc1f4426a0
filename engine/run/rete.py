"""The durable_rules adapter: the only module that imports ``durable_rules_engine``.

It drives the C module directly (never ``durable.engine.Host``: that crashes on ``delete_state``
when nothing fired and starts timer threads), following DURABLE_RULES.md §9:

* one sid per evaluation, no two evaluations at once on one sid; every state drained to the end
  in ``finally``, then cleaned for the next evaluation (its facts retracted: ``StatePool``) or
  deleted; every ruleset has the sentinel rule, so each state has started an action before it
  is deleted (crash bug 1);
* on an engine error the state is abandoned, not deleted, and new sessions go to a fresh engine
  ruleset; the old one is deleted when the last session using it has ended (``Ruleset``), so
  threads sharing a pack never see a handle deleted or replaced under them;
* engine rulesets are shared per definition within a process and deleted when their last owner
  closes them (``open_ruleset``), so loading a pack again does not create them again;
* facts and rulesets are encoded by ``engine.core.encoding``; property names are checked for
  FNV-1a-32 collisions before a ruleset is created; fact ids are explicit and collision-checked;
* engine error codes become typed exceptions; a firing budget stops runaway chaining;
* on glibc, the allocator is tuned before the first ruleset is created (``tune_allocator``), so
  that the engine's per-state memory is reused instead of being returned to the kernel and
  faulted back in by every evaluation.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from engine.core.encoding import fnv1a_32
from engine.core.errors import EngineError, EngineLimitError, EngineParseError, FiringBudgetExceeded

if sys.version_info >= (3, 13):  # pragma: no cover - checked by the install metadata too
    raise ImportError(
        "xieshang needs Python 3.11 or 3.12: durable-rules 2.0.28 does not import on 3.13+"
        " (undefined symbol PyEval_CallObject)"
    )

import durable_rules_engine as _engine

#: Set to 1 to leave glibc's malloc settings alone (docs/architecture.md, "Memory").
NO_MALLOC_TUNING = "XIESHANG_NO_MALLOC_TUNING"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  #: mallopt parameters (glibc malloc.h)
#: allocations below this come from the heap, not mmap: glibc's largest allowed value on 64-bit
MMAP_THRESHOLD = 32 * 2**20
#: free memory at the top of the heap kept up to this size, not returned to the kernel
TRIM_THRESHOLD = 64 * 2**20
_ERROR_CODE = re.compile(r"error code: (\d+)")
_LIMIT_CODES = {102, 106, 107, 108, 113, 302, 303, 304, 314, 501, 504, 508}
_PARSE_CODES = {201, 202, 203, 204, 205}
_SENTINEL = "__sentinel__"

#: An action: (shard, engine rule name, raw payload JSON) → facts to assert, as (shard, encoded
#: fact carrying the session's sid: ``{"sid":"<sid>",...}``).
OnAction = Callable[[int, str, str], Iterable[tuple[int, str]]]


def to_error(exc: BaseException) -> EngineError:
    """Map a durable_rules exception to a typed error."""
    if isinstance(exc, MemoryError):
        return EngineLimitError(101, "the rule engine ran out of states (error 101)")
    match = _ERROR_CODE.search(str(exc))
    code = int(match.group(1)) if match else -1
    message = f"the rule engine failed: {exc}"
    if code in _LIMIT_CODES:
        return EngineLimitError(code, f"a rule-engine limit was hit (error {code}): {exc}")
    if code in _PARSE_CODES:
        return EngineParseError(code, f"the rule engine could not parse its input ({exc})")
    return EngineError(code, message)


_tuned: bool | None = None  #: None: not decided yet in this process (see tune_allocator)


def tune_allocator() -> bool:
    """Keep glibc from handing the engine's state memory back to the kernel after each evaluation.

    Every durable_rules state allocates ≈12.5 KB per rule of its ruleset (several MB for a
    large shard) and frees it at ``delete_state``. With glibc's default, dynamic thresholds
    that memory is mmapped or trimmed off the heap top each time, and the next evaluation
    faults it back in page by page: at 1,000 rules, thousands of minor page faults and most
    of the time of an evaluation. Fixed thresholds (``MMAP_THRESHOLD``, ``TRIM_THRESHOLD``)
    keep it in the heap for reuse; the price is that up to ``TRIM_THRESHOLD`` of free heap
    stays mapped. Called once per process, before the first ruleset is created; does nothing
    off glibc, when ``XIESHANG_NO_MALLOC_TUNING=1``, or when the user tuned malloc already
    (``MALLOC_*_THRESHOLD_`` or ``glibc.malloc`` tunables in the environment). Returns whether
    it tuned.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    environ = os.environ
    if environ.get(NO_MALLOC_TUNING, "") not in ("", "0"):
        return False
    if any(k.startswith("MALLOC_") and k.endswith("_") for k in environ) or (
        "glibc.malloc" in environ.get("GLIBC_TUNABLES", "")
    ):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
    except (ValueError, OSError):  # not glibc: the name is unknown there
        return False
    import ctypes  # only here: it costs start-up time, and only glibc needs it

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _tuned = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
    return _tuned


class FactIds:
    """Explicit fact ids ``f0, f1, ...`` with distinct hashes (the engine keys facts by hash)."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._hashes: set[int] = set()
        self._next = 0
        self._lock = threading.Lock()

    def get(self, n: int) -> str:
        if n >= len(self._ids):
            with self._lock:  # grown rarely, and by one thread at a time
                while len(self._ids) <= n:
                    candidate = f"f{self._next}"
                    self._next += 1
                    h = fnv1a_32(candidate)
                    if h not in self._hashes:
                        self._hashes.add(h)
                        self._ids.append(candidate)
        return self._ids[n]


FACT_IDS = FactIds()
_ruleset_names = itertools.count()
_CREATE_LOCK = threading.Lock()
_sids = itertools.count(1)
_live_sid_hashes: set[int] = set()  #: sids in use by sessions of this process, by hash
_live_sids: dict[str, int] = {}  #: the same sids → their hash (not computed twice)


def new_sid() -> str:
    """A sid whose FNV-1a-32 hash no live session shares (the engine finds states by hash)."""
    with _CREATE_LOCK:
        while True:
            sid = f"e{next(_sids)}"
            h = fnv1a_32(sid)
            if h not in _live_sid_hashes:
                _live_sid_hashes.add(h)
                _live_sids[sid] = h
                return sid


def release_sid(sid: str) -> None:
    with _CREATE_LOCK:
        h = _live_sids.pop(sid, None)
        _live_sid_hashes.discard(fnv1a_32(sid) if h is None else h)


_LOCK = threading.Lock()  #: guards every Ruleset's generations and the shared registry
#: sessions per generation: far below the engine's 1,024 live states per ruleset, whose overflow
#: corrupts the ruleset (DURABLE_RULES §0.2); beyond it, new sessions get a new generation
MAX_SESSIONS_PER_GENERATION = 256


_PID = os.getpid()  #: this process's id, kept current by the fork hook (a syscall otherwise)


def _after_fork_in_child() -> None:
    global _LOCK, _CREATE_LOCK, _PID
    _LOCK = threading.Lock()  # another thread may have held it at the fork
    _CREATE_LOCK = threading.Lock()
    _PID = os.getpid()


os.register_at_fork(after_in_child=_after_fork_in_child)


@dataclass(eq=False)
class Generation:
    """One engine ruleset made from a definition, and how many sessions have states in it.

    Sessions lease the generation they start in and keep it to their end, so a handle is never
    deleted, nor swapped under them, while they use it. A clean state kept in a ``StatePool``
    holds a lease too; while its slot is idle it is listed here, so that retiring the
    generation deletes it at once.
    """

    handle: int
    pid: int
    leases: int = 0
    retired: bool = False  #: takes no new sessions; deleted when its last lease is released
    deleted: bool = False
    #: sid → (slot, shard): the idle pooled states in this generation (``StatePool``)
    idle: dict[str, tuple[_Slot, int]] = field(default_factory=dict)


class Ruleset:
    """The engine ruleset of one shard definition, created lazily in the process that uses it.

    Its lifetime follows two rules, so that one evaluation can never disturb another:

    * **Leases.** A session leases the current generation when it first touches the shard and
      releases it at its end. A generation is deleted only once it is retired *and* no lease is
      left.
    * **Retirement.** A generation is retired when a session's state in it broke (an engine
      error: that state is abandoned, never deleted), when it is full, and when the ruleset is
      closed. The next session creates a fresh generation; sessions still running in the old one
      finish there undisturbed.

    After a fork the child's first session creates its own generation (the parent's handles are
    left alone). ``close()`` is called once per owner; see ``open_ruleset``.
    """

    def __init__(self, definition: str) -> None:
        self.definition = definition
        self._current: Generation | None = None
        self._owners = 1
        self._closed = False

    def lease(self) -> Generation:
        """The generation for a new session's state, created if needed; ``release`` it after."""
        with _LOCK:
            if self._closed:
                raise ValueError("the rule set was closed; load the rules again to evaluate")
            current = self._current
            pid = _PID
            if current is not None and current.pid == pid:
                if current.leases >= MAX_SESSIONS_PER_GENERATION:
                    self._retire(current)
                    current = None
            else:
                current = None  # none yet, or inherited through a fork: not ours to touch
            if current is None:
                current = self._current = Generation(self._create(), pid)
            current.leases += 1
            return current

    def release(self, generation: Generation, *, broken: bool = False) -> None:
        """End a session's lease; ``broken``: its state was abandoned after an engine error."""
        with _LOCK:
            self._release(generation, broken)

    def _release(self, generation: Generation, broken: bool) -> None:
        """``release`` with ``_LOCK`` held."""
        generation.leases -= 1
        if broken and generation is self._current:
            self._retire(generation)
        elif generation.retired and generation.leases == 0:
            _delete(generation)

    def close(self) -> None:
        """One owner is done with it; after the last, no new session may start.

        The engine ruleset is deleted as soon as the sessions still running in it have ended.
        """
        with _LOCK:
            if self._closed:
                return
            self._owners -= 1
            if self._owners > 0:
                return
            self._closed = True
            if _shared.get(self.definition) is self:
                del _shared[self.definition]
            if self._current is not None and self._current.pid == os.getpid():
                self._retire(self._current)
            self._current = None

    def _retire(self, generation: Generation) -> None:
        generation.retired = True
        if self._current is generation:
            self._current = None
        if generation.idle:  # pooled clean states: deleted now, never reused
            for sid, (slot, shard) in generation.idle.items():
                if generation.pid == _PID:
                    _delete_state(generation, sid)
                del slot.states[shard]
                generation.leases -= 1
            generation.idle.clear()
        if generation.leases == 0:
            _delete(generation)

    def _create(self) -> int:
        tune_allocator()
        try:
            handle = int(_engine.create_ruleset(f"xieshang{next(_ruleset_names)}", self.definition))
        except (_engine.error, MemoryError) as exc:
            raise to_error(exc) from exc
        return handle


_shared: dict[str, Ruleset] = {}  #: definition → its open Ruleset, shared by every owner


def _delete(generation: Generation) -> None:
    if generation.deleted or generation.pid != os.getpid():
        return  # deleted already, or the parent's (through a fork): not ours
    generation.deleted = True
    with contextlib.suppress(_engine.error):  # best effort: the handle is gone either way
        _engine.delete_ruleset(generation.handle)


def open_ruleset(definition: str) -> Ruleset:
    """The process's Ruleset for a definition, shared by all its owners; each calls ``close()``.

    Loading one pack many times (or several packs with identical shards) therefore creates its
    engine rulesets once, not once per load.
    """
    with _LOCK:
        ruleset = _shared.get(definition)
        if ruleset is not None:
            ruleset._owners += 1
            return ruleset
        ruleset = _shared[definition] = Ruleset(definition)
        return ruleset


#: Set to 1 to delete every engine state at the end of its evaluation (no ``StatePool``).
NO_STATE_REUSE = "XIESHANG_NO_STATE_REUSE"
#: engine rules whose states one idle slot of a ``StatePool`` may keep: a state holds ≈12 KB
#: per rule of its ruleset (about what the engine ruleset itself holds), so this bounds a slot
#: at ≈200 MB; the states of shards beyond it are deleted after each evaluation
KEPT_STATE_RULES = 16384
IDLE_SLOTS = 2  #: idle slots a ``StatePool`` keeps (sessions running at once make more)


def state_reuse() -> bool:
    """Whether runtimes keep clean engine states between evaluations (``StatePool``)."""
    return os.environ.get(NO_STATE_REUSE, "") in ("", "0")


class _Slot:
    """A sid with a clean engine state in some shards: shard → the generation it lives in (on
    which the slot holds a lease). Clean: every fact retracted, the agenda run out."""

    __slots__ = ("pid", "sid", "states")

    def __init__(self, sid: str, states: dict[int, Generation]) -> None:
        self.sid = sid
        self.pid = _PID
        self.states = states


class StatePool:
    """Clean engine states of one runtime's shards, kept from one evaluation for the next.

    Creating a state costs durable_rules ≈14 KB of memory per rule of the ruleset, allocated
    and initialised at the first fact of a sid, and freeing it again at ``delete_state``: at
    every pack size about half of the engine's time per evaluation. A session that ends
    normally therefore *retracts* the facts it asserted into a shard (by sid and id: the engine
    removes each fact with every partial match and activation it took part in, and its agenda
    is already empty) and leaves the state alive; the next session takes the sid over, and its
    facts go into those states. What a state holds between evaluations is the engine's own
    state fact, which only the sentinel rule tests (and it fired when the state was made).

    Bounds: a slot keeps the states of the first shards up to ``KEPT_STATE_RULES`` engine
    rules; the pool keeps ``IDLE_SLOTS`` slots; a state that saw an engine error, was
    interrupted, or lives in a retired generation is deleted (or abandoned), never reused. A
    pooled sid stays registered as live (``new_sid``), and each kept state holds its
    generation's lease, so the sid-collision and generation rules hold unchanged.
    ``close()`` deletes the idle states; a forked child ignores its parent's.
    """

    def __init__(self, rulesets: Sequence[Ruleset], sizes: Sequence[int]) -> None:
        self.rulesets = rulesets
        keep: list[bool] = []
        total = 0
        for size in sizes:
            total += size
            keep.append(total <= KEPT_STATE_RULES)
        self.keep: tuple[bool, ...] = tuple(keep)  #: per shard: whether its state is kept
        self._idle: list[_Slot] = []
        self._closed = False

    def take(self) -> _Slot | None:
        with _LOCK:
            while self._idle:
                slot = self._idle.pop()
                if slot.pid == _PID:
                    for generation in slot.states.values():
                        del generation.idle[slot.sid]
                    return slot
                # made before a fork: the parent's states and leases, not ours to touch
        return None

    def give(self, slot: _Slot) -> None:
        """Keep an idle slot, or delete its states when the pool is full or closed. A state in a
        retired generation is deleted either way."""
        with _LOCK:
            if not self._closed and slot.pid == _PID and len(self._idle) < IDLE_SLOTS:
                states = slot.states
                for shard, generation in list(states.items()):
                    if generation.retired:
                        deleted = _delete_state(generation, slot.sid)
                        self.rulesets[shard]._release(generation, not deleted)
                        del states[shard]
                    else:
                        generation.idle[slot.sid] = (slot, shard)
                if states:
                    self._idle.append(slot)
                    return
        _drop_slot(self.rulesets, slot)

    def idle(self) -> list[tuple[str, dict[int, Generation]]]:
        """The idle slots' sids and states (for tests and diagnostics)."""
        with _LOCK:
            return [(slot.sid, dict(slot.states)) for slot in self._idle]

    def close(self) -> None:
        """Delete every idle state (idempotent); later slots are deleted when given back."""
        with _LOCK:
            self._closed = True
            idle, self._idle = self._idle, []
            for slot in idle:
                for generation in slot.states.values():
                    generation.idle.pop(slot.sid, None)
        for slot in idle:
            if slot.pid == _PID:
                _drop_slot(self.rulesets, slot)


def _drop_slot(rulesets: Sequence[Ruleset], slot: _Slot) -> None:
    """Delete a slot's states, release their leases and its sid."""
    states = slot.states
    broken = {
        shard for shard, generation in states.items() if not _delete_state(generation, slot.sid)
    }
    with _LOCK:
        for shard, generation in states.items():
            rulesets[shard]._release(generation, shard in broken)
    release_sid(slot.sid)


def _delete_state(generation: Generation, sid: str) -> bool:
    """Delete a clean state (one whose sentinel action ran); False after an engine error."""
    try:
        _engine.delete_state(generation.handle, sid)
    except _engine.error:
        return False
    return True


class Session:
    """One evaluation across several rulesets ("shards"): one sid, every state cleaned at the end.

    How a session ends depends on how its states are left, and never affects other sessions:

    * drained normally: with a ``StatePool``, a kept shard's facts are retracted and its state
      goes back to the pool with the sid; any other state is deleted;
    * stopped by a Python exception raised while an action ran (a conflict between derivations,
      the firing budget): the agenda is run out without effects and the state is deleted;
    * stopped by an engine error: the state may be inconsistent, so it is abandoned (never
      deleted) and its generation retired (see ``Ruleset``).
    """

    __slots__ = (
        "_asserted",
        "_broken",
        "_clean",
        "_in_action",
        "_kept",
        "_leases",
        "_offsets",
        "_waiting",
        "budget",
        "firings",
        "pool",
        "rulesets",
        "sid",
    )

    def __init__(
        self,
        rulesets: Sequence[Ruleset],
        budget: int,
        sid: str | None = None,
        pool: StatePool | None = None,
    ) -> None:
        self.rulesets = rulesets
        self.budget = budget
        self.firings = 0
        self.pool = pool
        slot = pool.take() if pool is not None and sid is None else None
        #: shard → the clean state this sid has there from an earlier session, until touched
        self._kept: dict[int, Generation] = {} if slot is None else slot.states
        self.sid: str = (new_sid() if sid is None else sid) if slot is None else slot.sid
        self._leases: dict[int, Generation] = {}  #: shard → where its state is
        self._offsets: dict[int, int] = {}  #: shard → offset of its live state
        self._broken: set[int] = set()  #: shards whose state saw an engine error
        self._in_action: set[int] = set()  #: shards left with an action started
        #: shard → derived facts for it, asserted when it is drained next (its state is made then)
        self._waiting: dict[int, list[str]] = {}
        self._asserted: dict[int, list[str]] = {}  #: shard → the facts in its state (pooled)
        self._clean: dict[int, Generation] = {}  #: shard → its state, cleaned for the pool

    def _handle(self, shard: int) -> int:
        generation = self._leases.get(shard)
        if generation is None:
            generation = self._kept.pop(shard, None)
            if generation is not None and generation.retired:
                # its ruleset takes no new sessions: delete the clean state there, start afresh
                deleted = _delete_state(generation, self.sid)
                self.rulesets[shard].release(generation, broken=not deleted)
                generation = None
            if generation is None:
                generation = self.rulesets[shard].lease()
            self._leases[shard] = generation
        return generation.handle

    def assert_facts(self, shard: int, facts: list[str]) -> None:
        """Assert encoded facts (JSON objects without sid) into a shard's state."""
        if facts:
            self.assert_encoded(shard, [f'{{"sid":"{self.sid}",{fact[1:]}' for fact in facts])

    def assert_encoded(self, shard: int, facts: list[str]) -> None:
        """Assert encoded facts that carry this session's sid already (``{"sid":...,...}``)."""
        handle = self._handle(shard)
        if self.pool is not None:
            asserted = self._asserted.get(shard)
            if asserted is None:
                self._asserted[shard] = list(facts)
            else:
                asserted += facts
        try:
            if len(facts) == 1:
                _code, offset = _engine.assert_fact(handle, facts[0])
            else:
                _code, offset = _engine.assert_facts(handle, "[" + ",".join(facts) + "]")
        except (_engine.error, MemoryError) as exc:
            self._broken.add(shard)
            raise to_error(exc) from exc
        self._offsets[shard] = offset

    def drain(self, shard: int, on_action: OnAction, facts: list[str] | None = None) -> set[int]:
        """Assert ``facts`` (encoded, with the sid) and run every pending action of a shard.

        The facts that actions derive for the shard itself are asserted at once (the engine
        chains on them); those for other shards wait until those are drained, after the facts
        they had before, so a shard's state is made only when its turn comes. Returns the shards
        that received derived facts.
        """
        waiting = self._waiting.pop(shard, None) if self._waiting else None
        if waiting:
            facts = waiting + facts if facts else waiting
        if facts:
            self.assert_encoded(shard, facts)
        offset = self._offsets.get(shard)
        if offset is None:
            return set()
        handle = self._leases[shard].handle
        touched: set[int] = set()
        later = self._waiting
        complete = _engine.complete_and_start_action
        firings, budget = self.firings, self.budget
        try:
            result = _engine.start_action_for_state(handle, offset)
            message = result[1] if result else None
            if message:
                self._in_action.add(shard)
            while message:
                firings += 1
                if firings > budget:
                    self._over_budget()
                rule = message[2 : message.index('"', 2)]
                if rule != _SENTINEL:
                    for target, fact in on_action(shard, rule, message):
                        if target == shard:
                            self.assert_encoded(shard, [fact])
                        else:
                            touched.add(target)
                            later.setdefault(target, []).append(fact)
                message = complete(handle, offset)
            self._in_action.discard(shard)
        except (_engine.error, MemoryError) as exc:
            self._broken.add(shard)
            raise to_error(exc) from exc
        finally:
            self.firings = firings
        return touched

    def _over_budget(self) -> None:
        raise FiringBudgetExceeded(
            f"more than {self.budget} rule firings in one evaluation: the rules keep"
            " deriving new facts (a chain that does not terminate?)"
        )

    def close_shard(self, shard: int) -> None:
        """Done with a drained shard now: its state is cleaned for the pool, or deleted (a live
        state holds ≈14 KB per rule; deleted, its memory serves the next shard's state)."""
        if shard not in self._offsets or shard in self._broken:
            return
        offset = self._offsets.pop(shard)
        generation = self._leases[shard]
        try:
            pool = self.pool
            if pool is not None and pool.keep[shard] and shard not in self._in_action:
                retraction = self._retraction(self._asserted.pop(shard, ()))
                if retraction is not None:
                    if retraction:
                        _engine.retract_facts(generation.handle, retraction)
                    self._clean[shard] = generation
                    return
            _engine.delete_state(generation.handle, self.sid)
        except (_engine.error, MemoryError) as exc:
            self._offsets[shard] = offset
            self._broken.add(shard)
            raise to_error(exc) from exc

    def _retraction(self, facts: Sequence[str]) -> str | None:
        """The engine JSON that retracts ``facts`` by sid and id (the engine needs no more);
        None if one does not start ``{"sid":<this sid>,"id":...``."""
        head = f'{{"sid":"{self.sid}","id":"'
        start = len(head)
        ids: list[str] = []
        for fact in facts:
            if not fact.startswith(head):
                return None
            ids.append(fact[: fact.index('"', start)] + '"}')
        return "[" + ",".join(ids) + "]" if ids else ""

    def close_drained(self) -> None:
        """Finish every live state, each drained to its end (the evaluation finished normally)."""
        if self._offsets:
            for shard in sorted(self._offsets.keys() - self._broken - self._in_action):
                self.close_shard(shard)

    def close(self) -> None:
        """Run out and delete every live state; abandon broken ones; release every lease; give
        the clean states back to the pool with the sid."""
        try:
            if self._offsets:
                for shard in sorted(self._offsets.keys() - self._broken):
                    self._drain_quietly(shard)
                self.pool = None  # interrupted: what is left is deleted, not kept
                for shard in sorted(self._offsets.keys() - self._broken):
                    self.close_shard(shard)
        finally:
            clean, kept = self._clean, self._kept
            with _LOCK:  # once for every lease
                for shard, generation in self._leases.items():
                    if shard not in clean:
                        self.rulesets[shard]._release(generation, shard in self._broken)
            self._leases.clear()
            if clean or kept:
                kept.update(clean)
                slot = _Slot(self.sid, kept)
                if self.pool is not None:
                    self.pool.give(slot)
                else:
                    _drop_slot(self.rulesets, slot)
            else:
                release_sid(self.sid)

    def _drain_quietly(self, shard: int) -> None:
        """Run out the agenda with no effects, so that the state may be deleted safely.

        A state left with an action started (a Python exception interrupted the drain) goes on
        from that action: completing it is what the normal drain would have done next.
        """
        if shard not in self._offsets:
            return
        handle, offset = self._leases[shard].handle, self._offsets[shard]
        try:
            if shard in self._in_action:
                message = _engine.complete_and_start_action(handle, offset)
            else:
                result = _engine.start_action_for_state(handle, offset)
                message = result[1] if result else None
            while message:
                message = _engine.complete_and_start_action(handle, offset)
            self._in_action.discard(shard)
        except (_engine.error, MemoryError):
            self._broken.add(shard)
