"""Advice inside a Dask pipeline (issue 15): a rule pack shipped by content, a partition advised.

Nothing here imports Dask: these are plain functions that a Dask task (or anything else) calls.

* :class:`ShippedPack` is a loaded rule pack as bytes: the checked ``Pack`` and its
  ``CompiledPack`` (immutable, free of engine handles), the rule files' digest, and the digest of
  the engine code that compiled it. It is built once where the pack's files are
  (:func:`ship_pack`) and sent to the workers as data, so a worker never reads a rule file and
  never needs the path the pack came from. The compiled pack is shipped rather than the files
  because advice cites rule files by the name they had where they were loaded
  (``rules/jiebei/…``): compiling on the worker from a copy would cite the copy.
* A worker process turns the bytes into a ``RuleSet`` once and keeps it, keyed by the payload's
  sha256 (checked when it is loaded); later tasks with the same pack reuse it.
* :func:`advise_partition` advises a partition: the output of each situation is exactly the line
  ``xieshang batch`` writes for it (``engine.batch.advise_line``: the same code, so the same
  bytes), an error record for a bad one. It never raises for a bad row, and it is pure: the same
  partition gives the same output wherever and however often it runs, which is what lets Dask
  retry it on another worker when one dies.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.api import RuleSet, load_rules
from engine.batch import Line, Options, Result, advise_line
from engine.compile.packcache import code_digest
from engine.core.errors import XieshangError
from engine.load.situation import MAX_BYTES, default_today

MAX_LOADED = 4  #: packs one worker process keeps (a 10,000-rule pack holds ~100 MB)
_loaded: dict[str, RuleSet] = {}  #: this process's packs, by payload digest


class ShippedPackError(XieshangError):
    """A shipped pack cannot be used here: damaged, or compiled by a different engine."""

    exit_code = 1


@dataclass(frozen=True)
class ShippedPack:
    """A compiled rule pack as bytes, to send to processes that do not have its files."""

    name: str
    version: str
    pack_digest: str  #: the rule files' digest (the advice's ``ruleset.digest``)
    code: str  #: sha256 of the engine code and schemas that compiled it
    payload: bytes  #: the pickled (Pack, CompiledPack)
    digest: str  #: sha256 of ``payload``; a worker caches the loaded pack under it

    @classmethod
    def from_ruleset(cls, ruleset: RuleSet) -> ShippedPack:
        payload = pickle.dumps((ruleset.pack, ruleset.compiled), protocol=5)
        return cls(
            name=ruleset.name,
            version=ruleset.version,
            pack_digest=ruleset.digest,
            code=code_digest().hex(),
            payload=payload,
            digest=hashlib.sha256(payload).hexdigest(),
        )

    def ruleset(self) -> RuleSet:
        """This process's RuleSet for the pack: loaded on first use, then reused."""
        if self.code != code_digest().hex():  # checked every time: it costs a comparison
            raise ShippedPackError(
                f"rule pack {self.name} {self.version} was compiled by a different xieshang"
                " (engine code or schemas differ): install the same xieshang on every worker"
            )
        loaded = _loaded.get(self.digest)
        if loaded is not None:
            return loaded
        if hashlib.sha256(self.payload).hexdigest() != self.digest:
            raise ShippedPackError(f"rule pack {self.name} {self.version}: the payload is damaged")
        # The payload is the client's own pickle: a Dask task is the client's code anyway.
        pack, compiled = pickle.loads(self.payload)
        loaded = RuleSet(pack, compiled)
        while len(_loaded) >= MAX_LOADED:
            _loaded.pop(next(iter(_loaded))).close()
        _loaded[self.digest] = loaded
        return loaded


def keep(pack: ShippedPack) -> ShippedPack:
    """The pack itself: as a Dask task's result it is sent to each worker once, and recomputed
    from the task (which holds the bytes) if every worker holding it dies."""
    return pack


def ship_pack(paths: Sequence[str | Path] | None = None) -> ShippedPack:
    """Load a rule pack (the built-in one when no path is given) and make it shippable."""
    return ShippedPack.from_ruleset(load_rules(paths))


def run_options(options: Options) -> Options:
    """``options`` with the run's date fixed (today in China, now), as ``xieshang batch`` does.

    Take it once, where the run starts, and give the result to every partition: otherwise
    partitions advised on either side of midnight would use different dates.
    """
    if options.today is not None:
        return options
    return dataclasses.replace(options, today=default_today())


def as_line(number: int, item: str | bytes | None) -> Line:
    """An input item as a numbered batch line (``None``, a missing value, is empty text)."""
    data = b"" if item is None else item.encode("utf-8") if isinstance(item, str) else item
    data = data.rstrip(b"\n").removesuffix(b"\r")
    return (number, len(data)) if len(data) > MAX_BYTES else (number, data)


def advise_lines(lines: Iterable[Line], pack: ShippedPack, options: Options) -> list[Result]:
    """(code, text) for each numbered line: exactly what ``xieshang batch`` writes for it."""
    ruleset = pack.ruleset()
    return [advise_line(ruleset, line, options) for line in lines]


def advise_partition(
    partition: Any,
    pack: ShippedPack,
    options: Options,
    *,
    first: int = 1,
    column: str = "situation",
    numbers: str | None = None,
) -> Any:
    """Advise one partition of situations; use with ``map_partitions``.

    * A list (a ``dask.bag`` partition) of JSON texts (``str`` or ``bytes``, a line ending is
      dropped), or of ``(number, text)`` pairs: the result is a list of the output lines, one per
      item, in order.
    * A pandas DataFrame (a ``dask.dataframe`` partition) with the situation's JSON text in
      ``column``: the result is the DataFrame with an ``advice`` column (the output line) in
      place of ``column``.

    Items are numbered from ``first`` (the number an error record names), unless the pair or the
    DataFrame column ``numbers`` gives the number (a partition does not know where it starts).
    Pass ``options`` from :func:`run_options` so every partition uses the same date.
    """
    if hasattr(partition, "columns"):  # a DataFrame (duck-typed: pandas is not required)
        frame = partition
        texts = list(frame[column])
        ids = list(frame[numbers]) if numbers else range(first, first + len(texts))
        results = advise_lines(
            (as_line(int(n), t) for n, t in zip(ids, texts, strict=True)), pack, options
        )
        out = frame.drop(columns=[column])
        out.insert(0, "advice", [text for _, text in results])
        return out
    lines = [
        as_line(int(item[0]), item[1]) if isinstance(item, tuple) else as_line(first + i, item)
        for i, item in enumerate(partition)
    ]
    return [text for _, text in advise_lines(lines, pack, options)]
