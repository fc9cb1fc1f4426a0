"""The durable_rules adapter: the only module that imports ``durable_rules_engine``.

It drives the C module directly (never ``durable.engine.Host``: that crashes on ``delete_state``
when
nothing fired and starts timer threads), following DURABLE_RULES.md §9:

* one fresh sid per evaluation, every state drained and then deleted in ``finally``; every ruleset
  has the sentinel rule, so each state has started an action before it is deleted (crash bug 1);
* on any engine error the state is abandoned, not deleted, and the ruleset is replaced;
* facts and rulesets are encoded by ``engine.encoding``; property names are checked for FNV-1a-32
  collisions before a ruleset is created; fact ids are explicit and collision-checked;
* engine error codes become typed exceptions; a firing budget stops runaway chaining.
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
from typing import Any

from engine.errors import EngineError, EngineLimitError, EngineParseError, FiringBudgetExceeded

if sys.version_info >= (3, 13):  # pragma: no cover - checked by the install metadata too
    raise ImportError(
        "xieshang needs Python 3.11 or 3.12: durable-rules 2.0.28 does not import on 3.13+"
        " (undefined symbol PyEval_CallObject)"
    )

import durable_rules_engine as _engine

_ERROR_CODE = re.compile(r"error code: (\d+)")
_LIMIT_CODES = {102, 106, 107, 108, 113, 302, 303, 304, 314, 501, 504, 508}
_PARSE_CODES = {201, 202, 203, 204, 205}
_SENTINEL = "__sentinel__"

#: An action: (engine rule name, raw payload JSON) → facts to assert, as (shard, encoded fact).
OnAction = Callable[[int, str, str], Iterable[tuple[int, str]]]


def fnv1a_32(text: str) -> int:
    """The hash durable_rules uses for sids, fact ids and property names.

    >>> fnv1a_32("p2039599") == fnv1a_32("p2222382")
    True
    """
    h = 0x811C9DC5
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def property_names(definition: Any) -> set[str]:
    """Every fact property name a ruleset definition tests (operators and aliases left out)."""
    names: set[str] = set()

    def walk(node: Any, under_test: bool) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, under_test)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key.startswith("$"):
                    walk(value, True)
                elif under_test:
                    names.add(key)
                    walk(value, False)
                else:
                    walk(value, key in ("all", "any") or isinstance(value, dict | list))

    for rule in definition.values():
        for pattern in rule.get("all", []):
            for test in pattern.values():
                walk(test, True)
    return names


def check_hash_collisions(names: Iterable[str]) -> None:
    """Refuse two property names with one FNV-1a-32 hash: the engine would treat them as one."""
    seen: dict[int, str] = {}
    for name in sorted(set(names)):
        other = seen.setdefault(fnv1a_32(name), name)
        if other != name:
            raise EngineError(
                0,
                f"property names '{other}' and '{name}' collide in the engine's"
                " 32-bit hash; rename one",
            )


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


def new_sid() -> str:
    """A sid whose FNV-1a-32 hash no live session shares (the engine finds states by hash)."""
    with _CREATE_LOCK:
        while True:
            sid = f"e{next(_sids)}"
            h = fnv1a_32(sid)
            if h not in _live_sid_hashes:
                _live_sid_hashes.add(h)
                return sid


def release_sid(sid: str) -> None:
    with _CREATE_LOCK:
        _live_sid_hashes.discard(fnv1a_32(sid))


@dataclass
class Ruleset:
    """One engine ruleset, created lazily in the process that uses it (again after a fork)."""

    definition: str
    _handle: int | None = None
    _pid: int = 0
    _name: str = ""

    def handle(self) -> int:
        if self._handle is None or self._pid != os.getpid():
            with _CREATE_LOCK:  # threads may share a pack: create each ruleset once
                if self._handle is None or self._pid != os.getpid():
                    self._handle = self._create()
        return self._handle

    def _create(self) -> int:
        self._name = f"xieshang{next(_ruleset_names)}"
        self._pid = os.getpid()
        try:
            return int(_engine.create_ruleset(self._name, self.definition))
        except (_engine.error, MemoryError) as exc:
            raise to_error(exc) from exc

    def replace(self) -> None:
        """After an engine error: abandon the old handle's states and start a fresh ruleset."""
        old = self._handle
        self._handle = None
        self.handle()
        if old is not None:
            with contextlib.suppress(_engine.error):  # best effort
                _engine.delete_ruleset(old)

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            with contextlib.suppress(_engine.error):  # best effort
                _engine.delete_ruleset(self._handle)
        self._handle = None


@dataclass
class Session:
    """One evaluation across several rulesets ("shards"): one sid, states deleted at the end."""

    rulesets: Sequence[Ruleset]
    budget: int
    sid: str = field(default_factory=new_sid)
    firings: int = 0
    _offsets: dict[int, int] = field(default_factory=dict)  #: shard → state offset
    _open: set[int] = field(default_factory=set)  #: shards with a live state
    _failed: set[int] = field(default_factory=set)

    def assert_facts(self, shard: int, facts: list[str]) -> None:
        """Assert encoded facts (JSON objects without sid) into a shard's state."""
        if not facts:
            return
        payload = "[" + ",".join(f'{{"sid":"{self.sid}",{fact[1:]}' for fact in facts) + "]"
        handle = self.rulesets[shard].handle()
        self._open.add(shard)
        try:
            _code, offset = _engine.assert_facts(handle, payload)
        except (_engine.error, MemoryError) as exc:
            self._failed.add(shard)
            raise to_error(exc) from exc
        self._offsets[shard] = offset

    def drain(self, shard: int, on_action: OnAction) -> set[int]:
        """Run every pending action of a shard; returns the shards that received derived facts."""
        if shard not in self._offsets:
            return set()
        handle, offset = self.rulesets[shard].handle(), self._offsets[shard]
        touched: set[int] = set()
        try:
            result = _engine.start_action_for_state(handle, offset)
            message = result[1] if result else None
            while message:
                self._count()
                rule = message[2 : message.index('"', 2)]
                if rule != _SENTINEL:
                    for target, fact in on_action(shard, rule, message):
                        touched.add(target)
                        self.assert_facts(target, [fact])
                message = _engine.complete_and_start_action(handle, offset)
        except (_engine.error, MemoryError) as exc:
            self._failed.add(shard)
            raise to_error(exc) from exc
        except BaseException:
            self._failed.add(shard)
            raise
        touched.discard(shard)
        return touched

    def _count(self) -> None:
        self.firings += 1
        if self.firings > self.budget:
            raise FiringBudgetExceeded(
                f"more than {self.budget} rule firings in one evaluation: the rules keep"
                " deriving new facts (a chain that does not terminate?)"
            )

    def close_shard(self, shard: int) -> None:
        """Delete a drained shard's state now (a live state holds ≈12.5 KB per rule)."""
        if shard in self._open and shard not in self._failed:
            self._open.discard(shard)
            self._offsets.pop(shard, None)
            try:
                _engine.delete_state(self.rulesets[shard].handle(), self.sid)
            except _engine.error as exc:
                raise to_error(exc) from exc

    def close(self) -> None:
        """Drain and delete every live state; replace the rulesets whose state failed."""
        try:
            for shard in sorted(self._open - self._failed):
                self._drain_quietly(shard)
            for shard in sorted(self._failed):
                self._open.discard(shard)
                self.rulesets[shard].replace()
            self._failed.clear()
            for shard in sorted(self._open):
                self.close_shard(shard)
        finally:
            release_sid(self.sid)

    def _drain_quietly(self, shard: int) -> None:
        """Run out the agenda with no effects, so that the state may be deleted safely."""
        if shard not in self._offsets:
            return
        handle, offset = self.rulesets[shard].handle(), self._offsets[shard]
        try:
            message = _engine.start_action_for_state(handle, offset)
            while message:
                message = _engine.complete_and_start_action(handle, offset)
        except (_engine.error, MemoryError):
            self._failed.add(shard)
