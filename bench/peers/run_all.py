"""Orchestrate the peer benchmark: generate data, compute the plain-Python
reference, then run every (N, engine) cell in its own process, N-major so all
engines for one N run back to back.  Writes OUT/results.json; report.py turns
it into RESULTS.md.

Env knobs (defaults fit the 15-minute budget on 2 cores):
  PEERS_NS           "20,60,200,1000,10000"
  PEERS_ENGINES      "plain,zen,clips,durable_c,xieshang_run,xieshang,compiled_run,compiled"
                     (also: interp, durable, xieshang_eval, xieshang_fast; experta and ruleengine
                     need packages that the project's `bench` extra does not install)
  PEERS_VERIFY_CAP   seconds a verification pass may take (default 30; PEERS_VERIFY_CAP_10K=30)
  PEERS_TIMING_CAP   seconds for the 5 timing reps        (default 30; PEERS_TIMING_CAP_10K=20)
  PEERS_CELL_TIMEOUT hard kill per cell (default 240)
  PEERS_SKIP         cells to skip, e.g. "experta:10000"
  PEERS_REPS         timing repetitions (default 5; 0 = verification only)
  PEERS_RESULTS      results file name inside OUT (default results.json)
"""
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen  # noqa: E402
from engines import plain  # noqa: E402


def env_list(name, default):
    return [x for x in os.environ.get(name, default).split(",") if x]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "out")
    os.makedirs(out, exist_ok=True)
    ns = [int(x) for x in env_list("PEERS_NS", "20,60,200,1000,10000")]
    engines = env_list("PEERS_ENGINES",
                       "plain,zen,clips,durable_c,xieshang_run,xieshang,compiled_run,compiled")
    skip = set(env_list("PEERS_SKIP", ""))
    vcap = float(os.environ.get("PEERS_VERIFY_CAP", "30"))
    tcap = float(os.environ.get("PEERS_TIMING_CAP", "30"))
    cell_timeout = float(os.environ.get("PEERS_CELL_TIMEOUT", "240"))
    t_start = time.time()

    # ---- data ------------------------------------------------------------
    t0 = time.time()
    sits = gen.situations()
    res_name = os.environ.get("PEERS_RESULTS", "results.json")
    with open(os.path.join(out, "situations.json"), "w") as fh:
        json.dump(sits, fh)
    meta = {"workload": [], "situations": len(sits)}
    for n in ns:
        pk = gen.pack(n)
        with open(os.path.join(out, f"pack_{n}.json"), "w") as fh:
            json.dump(pk, fh)
        p = plain.load(pk)
        ref = [sorted((r, int(pri)) for r, pri in p.evaluate(s)) for s in sits]
        with open(os.path.join(out, f"ref_{n}.json"), "w") as fh:
            json.dump(ref, fh)
        facts = pk["facts"]
        cons = {r["id"]: max(facts[c["f"]]["level"] for c in r["conds"] if c["f"] in facts)
                for r in pk["rules"] if r["kind"] == "rec" and any(c["f"] in facts for c in r["conds"])}
        nm = [len(x) for x in ref]
        w = {"n": n, "rules": len(pk["rules"]),
             "derive_l1": sum(v["level"] == 1 for v in facts.values()),
             "derive_l2": sum(v["level"] == 2 for v in facts.values()),
             "rec_rules": sum(r["kind"] == "rec" for r in pk["rules"]),
             "rec_rules_on_derived_facts": len(cons),
             "mean_conds_per_rule": round(sum(len(r["conds"]) for r in pk["rules"]) / len(pk["rules"]), 2),
             "recs_per_situation_mean": round(sum(nm) / len(nm), 2),
             "recs_per_situation_max": max(nm),
             "fires_via_l1_fact": sum(1 for x in ref for rid, _ in x if cons.get(rid) == 1),
             "fires_via_l2_fact": sum(1 for x in ref for rid, _ in x if cons.get(rid) == 2)}
        meta["workload"].append(w)
        print("workload", json.dumps(w), flush=True)
    meta["gen_s"] = round(time.time() - t0, 1)

    # ---- cells -----------------------------------------------------------
    results = []
    py = sys.executable
    for n in ns:
        for eng in engines:
            if f"{eng}:{n}" in skip:
                results.append({"engine": eng, "n": n, "ok": False, "skipped": True,
                                "error": "skipped (PEERS_SKIP)"})
                continue
            vc = vcap if n < 10000 else float(os.environ.get("PEERS_VERIFY_CAP_10K", "30"))
            tc = tcap if n < 10000 else float(os.environ.get("PEERS_TIMING_CAP_10K", "20"))
            cmd = [py, os.path.join(HERE, "bench.py"), eng, str(n), out,
                   "--verify-cap", str(vc), "--timing-cap", str(tc),
                   "--reps", os.environ.get("PEERS_REPS", "5")]
            res = None
            for attempt in (1, 2):
                t0 = time.time()
                try:
                    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=cell_timeout)
                    rc, so, se = cp.returncode, cp.stdout, cp.stderr
                except subprocess.TimeoutExpired as e:
                    rc, so, se = "timeout", (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or ""), ""
                wall = round(time.time() - t0, 1)
                line = [x for x in so.splitlines() if x.startswith("RESULT ")]
                if line:
                    res = json.loads(line[-1][7:])
                else:
                    res = {"engine": eng, "n": n, "ok": False,
                           "error": f"process died rc={rc}", "stderr_tail": se[-800:]}
                res["cell_wall_s"] = wall
                res["attempt"] = attempt
                if res.get("ok") or rc == "timeout" or "process died" not in res.get("error", ""):
                    break
            results.append(res)
            brief = {k: res.get(k) for k in ("engine", "n", "ok", "load_ms", "eval_us", "plain_us",
                                             "ratio", "verified", "mismatch_count", "timed_sits",
                                             "peak_rss_mb", "cell_wall_s", "attempt", "error")}
            print("cell", json.dumps(brief), flush=True)
            with open(os.path.join(out, res_name), "w") as fh:
                json.dump({"meta": meta, "results": results}, fh, indent=1)

    meta["total_s"] = round(time.time() - t_start, 1)
    meta["python"] = sys.version.split()[0]
    meta["platform"] = platform.platform()
    try:
        with open("/proc/cpuinfo") as fh:
            meta["cpu"] = next(l.split(":", 1)[1].strip() for l in fh if l.startswith("model name"))
    except Exception:
        meta["cpu"] = "?"
    meta["cores"] = os.cpu_count()
    vers = {}
    for pkg in ("durable-rules", "zen-engine", "clipspy", "xieshang", "jsonschema", "PyYAML"):
        try:
            from importlib.metadata import version
            vers[pkg] = version(pkg)
        except Exception:
            vers[pkg] = "not installed"
    meta["versions"] = vers
    meta["caps"] = {"verify_cap_s": vcap, "timing_cap_s": tcap,
                    "verify_cap_10k_s": float(os.environ.get("PEERS_VERIFY_CAP_10K", "30")),
                    "timing_cap_10k_s": float(os.environ.get("PEERS_TIMING_CAP_10K", "20")),
                    "cell_timeout_s": cell_timeout}
    with open(os.path.join(out, res_name), "w") as fh:
        json.dump({"meta": meta, "results": results}, fh, indent=1)
    print(f"done in {meta['total_s']} s", flush=True)


if __name__ == "__main__":
    main()
