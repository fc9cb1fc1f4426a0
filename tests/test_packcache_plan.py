"""The compiled-pack cache holds a pack's ``plan:`` (issue 8): without it every run recompiled."""

from __future__ import annotations

import engine
from engine import packcache


def test_the_default_pack_with_its_plan_round_trips_through_the_cache_format() -> None:
    ruleset = engine.load_rules()
    assert ruleset.pack.plan is not None
    key = "a" * 64
    entry = packcache.loads(key, packcache.dumps(key, ruleset.pack, ruleset.compiled))
    assert entry is not None
    pack, _compiled = entry
    assert pack.plan == ruleset.pack.plan
    assert pack == ruleset.pack
