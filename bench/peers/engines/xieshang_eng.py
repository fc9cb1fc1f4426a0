"""(7) xieshang (installed in the running interpreter), full library path:

    decision = engine.evaluate(rules, situation)      # validate + normalise + run + rank
    advice = decision.to_advice()                     # SPEC §4 document
    -> [(IR rule id, score)] from advice["recommendations"]

The IR pack is translated to a YAML pack by engines/xieshang_map.py (see its docstring for the
field mapping), written to a fresh temp directory and loaded with engine.load_rules([dir]) with
the on-disk compiled-pack cache switched off (XIESHANG_NO_CACHE=1), so load = translate + write
YAML + parse + check + compile + create the durable_rules rulesets (forced at load time; xieshang
would otherwise create them lazily on the first evaluation).

Backends: ``backend="rete"`` (durable_rules, the default) or ``"compiled"`` (the pack lowered
to Python, engine/run/lowered.py; load then includes lowering it: ``RuleSet.program()``).

Variants (same module, other entry points; see xieshang_eval_eng.py / xieshang_run_eng.py,
compiled_eng.py / compiled_run_eng.py):
  full  evaluate(rules, sit) + to_advice()
  eval  evaluate(rules, sit) (still validates the situation), recommendations read directly
  run   engine.run.driver.run(runtime, sit): the lowest-level driver the project exposes (no validation,
        no normalisation, no ranking): durable_rules matching + the Python driver (derivation,
        routing, level closing) -> firings
The peer situation -> xieshang situation mapping (xieshang_map.encode_situation, a generated
function) runs inside every timed call; its own cost is reported in notes.encode_us.
"""
import atexit
import datetime as dt
import os
import shutil
import tempfile
import time

os.environ.setdefault("XIESHANG_NO_CACHE", "1")

import engine  # noqa: E402
from engine.pack.model import Recommend  # noqa: E402
from engine.run.driver import run as _xs_run  # noqa: E402

try:  # the compiled backend (issue 14); absent from older versions of the project
    from engine.run import lowered as _lowered  # noqa: E402
except ImportError:  # pragma: no cover
    _lowered = None

from .xieshang_map import Translation, encode_situation  # noqa: E402

NAME = "xieshang (YAML pack -> durable_rules; evaluate + to_advice)"
TODAY = dt.date(2026, 11, 28)
PACK_DIR = os.environ.get("XS_PACK_DIR", os.path.join(tempfile.gettempdir(), "xieshang-peer-packs"))


class Xieshang:
    def __init__(self, pack, variant="full", backend="rete"):
        t0 = time.perf_counter()
        tr = Translation(pack)
        os.makedirs(PACK_DIR, exist_ok=True)
        root = tempfile.mkdtemp(prefix=f"n{pack['n']}_", dir=PACK_DIR)
        atexit.register(shutil.rmtree, root, True)
        nfiles = tr.write(os.path.join(root, "pack"))
        t1 = time.perf_counter()
        self.rules = engine.load_rules([os.path.join(root, "pack")])
        t2 = time.perf_counter()
        runtime = self.rules.runtime
        self.backend = backend
        if backend == "compiled":
            self.program = self.rules.program()  # lowered once per load, cached on the RuleSet
        else:
            for rs in runtime.rulesets:  # create the engine rulesets now, not on first use
                if hasattr(rs, "handle"):
                    rs.handle()
                elif hasattr(rs, "lease"):
                    rs.release(rs.lease())
        t3 = time.perf_counter()
        self.runtime = runtime
        self.tr = tr
        ir_id = tr.ir_id
        self.action_to_ir = {r.rule.then.action: ir_id[r.rule.id] for r in self.rules.compiled.rules
                             if isinstance(r.rule.then, Recommend)}
        # rule index -> (IR id, priority) for rec rules
        self.rec_of_index = {}
        for i, cr in enumerate(self.rules.compiled.rules):
            then = cr.rule.then
            if isinstance(then, Recommend):
                self.rec_of_index[i] = (ir_id[cr.rule.id], then.priority)
        self.variant = variant
        self.kw = {"backend": "compiled"} if backend == "compiled" else {}
        self.evaluate = {"full": self.evaluate_full, "eval": self.evaluate_eval,
                         "run": self.evaluate_run}[variant]
        comp = self.rules.compiled
        self.notes = {
            "variant": variant,
            "backend": backend,
            "translate_write_ms": round((t1 - t0) * 1e3, 1),
            "load_rules_ms": round((t2 - t1) * 1e3, 1),
            ("lower_ms" if backend == "compiled" else "create_rulesets_ms"): round(
                (t3 - t2) * 1e3, 1),
            "files": nfiles,
            "engine_rulesets": len(comp.shards),
            "engine_rules": sum(len(s.names) for s in comp.shards),
            "levels": comp.max_level,
            **tr.stats(),
        }
        # cost of the situation mapping alone (included in every timed call)
        import gen
        sits = gen.situations(200)
        t0 = time.perf_counter()
        for _ in range(5):
            for s in sits:
                encode_situation(s)
        self.notes["encode_us"] = round((time.perf_counter() - t0) / 1000 * 1e6, 2)

    def evaluate_full(self, s):
        d = engine.evaluate(self.rules, encode_situation(s), today=TODAY, **self.kw)
        adv = d.to_advice()
        a2i = self.action_to_ir
        return [(a2i[r["action"]], r["score"]) for r in adv["recommendations"]]

    def evaluate_eval(self, s):
        d = engine.evaluate(self.rules, encode_situation(s), today=TODAY, **self.kw)
        a2i = self.action_to_ir
        return [(a2i[r.action], r.score) for r in d.recommendations]

    def evaluate_run(self, s):
        if self.backend == "compiled":
            res = _lowered.run(self.program, encode_situation(s))
        else:
            res = _xs_run(self.runtime, encode_situation(s))
        rec = self.rec_of_index
        return [rec[f.rule_index] for f in res.firings if f.rule_index in rec]

    def close(self):
        self.runtime.close()


def load(pack):
    return Xieshang(pack, "full")
