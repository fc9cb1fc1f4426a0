"""Measure one (engine, N) cell in a fresh process; prints one JSON line.

  python bench.py ENGINE N DATA_DIR [--verify-cap S] [--timing-cap S] [--reps 5]

1. load the IR pack, import the adapter, note RSS;           (not timed)
2. engine load/compile time: adapter.load(pack)  (translation + engine build);
3. verification pass over the situations in order against the plain-Python
   reference (DATA_DIR/ref_N.json); stops early only if it exceeds
   --verify-cap seconds (then `verified` < 1000 is reported);
4. peak RSS (VmHWM, reset to the current RSS just before step 2) is read
   here, before anything else is loaded;
5. timing: `reps` repetitions of the situation loop, each immediately
   followed by the same loop on the plain-Python evaluator in the same
   process (interleaved, so drift and noise hit both).  The loop covers all
   1000 situations unless reps x loop would exceed --timing-cap, in which
   case it covers the first K situations (reported as timed_sits=K).
   Per-situation time = median over reps of loop_time / K.  If even 5 x 10
   situations would exceed the cap, the mean of the verification pass is
   reported instead (timing_mode says so).  --reps 0: verification only.
"""
import argparse
import gc
import importlib
import json
import os
import resource
import statistics
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODULES = {"plain": "plain", "interp": "interp", "zen": "zen_eng", "clips": "clips_eng",
           "durable": "durable_eng", "durable_c": "durable_c_eng", "ruleengine": "ruleengine_eng", "experta": "experta_eng",
           "xieshang": "xieshang_eng", "xieshang_eval": "xieshang_eval_eng", "xieshang_run": "xieshang_run_eng",
           "xieshang_fast": "xieshang_fast_eng",
           "compiled": "compiled_eng", "compiled_run": "compiled_run_eng"}


def rss_mb():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb():
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork+exec, so a
    # child would report the orchestrator's peak instead of its own
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def trim():
    """give freed heap back to the OS so the pre-load RSS is tight"""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except Exception:
        pass


def reset_peak():
    """reset VmHWM to the current RSS (Linux >= 4.0: write 5 to clear_refs)"""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except Exception:
        return False


def norm(recs):
    out = sorted((str(r), int(p)) for r, p in recs)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("engine")
    ap.add_argument("n", type=int)
    ap.add_argument("data")
    ap.add_argument("--verify-cap", type=float, default=1e9)
    ap.add_argument("--timing-cap", type=float, default=1e9)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()

    res = {"engine": a.engine, "n": a.n, "ok": False, "loadavg_start": os.getloadavg()}
    try:
        with open(os.path.join(a.data, f"pack_{a.n}.json")) as fh:
            pack = json.load(fh)
        with open(os.path.join(a.data, "situations.json")) as fh:
            sits = json.load(fh)
        with open(os.path.join(a.data, f"ref_{a.n}.json")) as fh:
            ref = json.load(fh)
        # compact form (one string per situation) so the reference does not
        # dominate the process's memory at N=10000
        ref = [",".join(f"{r}:{p}" for r, p in x) for x in ref]
        mod = importlib.import_module("engines." + MODULES[a.engine])
        from engines import plain
        gc.collect()
        trim()
        res["rss_before_load_mb"] = round(rss_mb(), 1)
        res["peak_reset"] = reset_peak()
        res["name"] = mod.NAME

        t0 = time.perf_counter()
        c0 = time.process_time()
        ev = mod.load(pack)
        res["load_ms"] = round((time.perf_counter() - t0) * 1e3, 2)
        res["load_cpu_ms"] = round((time.process_time() - c0) * 1e3, 2)
        res["notes"] = getattr(ev, "notes", {})

        # ---- verification -------------------------------------------------
        mism = []
        dups = 0
        t0 = time.perf_counter()
        nver = 0
        for i, s in enumerate(sits):
            got = norm(ev.evaluate(s))
            if len(set(got)) != len(got):
                dups += 1
            key = ",".join(f"{r}:{p}" for r, p in sorted(set(got)))
            if key != ref[i]:
                if len(mism) < 3:
                    g = set(got)
                    r = {(x.split(":")[0], int(x.split(":")[1])) for x in ref[i].split(",") if x}
                    mism.append({"sit": i, "missing": sorted(r - g)[:5], "extra": sorted(g - r)[:5]})
                res.setdefault("mismatch_count", 0)
                res["mismatch_count"] += 1
            nver += 1
            if time.perf_counter() - t0 > a.verify_cap:
                break
        vt = time.perf_counter() - t0
        res["verified"] = nver
        res["mismatch_count"] = res.get("mismatch_count", 0)
        res["mismatch_examples"] = mism
        res["dup_outputs"] = dups
        res["verify_s"] = round(vt, 3)
        res["peak_rss_mb"] = round(peak_mb(), 1)
        res["rss_after_mb"] = round(rss_mb(), 1)

        # ---- timing ---------------------------------------------------------
        per = vt / nver
        base = plain.load(pack)
        bev = base.evaluate
        eev = ev.evaluate
        k = len(sits)
        if a.reps and per * 10 * a.reps > a.timing_cap:
            # too slow even for 5 x 10 situations: report the mean of the
            # verification pass itself (one pass over `verified` situations)
            k = nver
            sub = sits[:k]
            tp = []
            for _ in range(5):
                gc.collect()
                t0 = time.perf_counter()
                for s in sub:
                    bev(s)
                tp.append(time.perf_counter() - t0)
            res["timing_mode"] = "verification pass only (1 rep)"
            res["timed_sits"] = k
            res["reps"] = 1
            res["eval_us_reps"] = [round(per * 1e6, 2)]
            res["plain_us_reps"] = [round(x / k * 1e6, 3) for x in tp]
            res["eval_us"] = round(per * 1e6, 2)
            res["plain_us"] = round(statistics.median(tp) / k * 1e6, 3)
            res["ratio"] = round(per / (statistics.median(tp) / k), 2)
        elif a.reps:
            if per * k * a.reps > a.timing_cap:
                k = max(10, min(len(sits), int(a.timing_cap / (a.reps * per))))
            sub = sits[:k]
            te, tp = [], []
            for _ in range(a.reps):
                gc.collect()
                t0 = time.perf_counter()
                for s in sub:
                    eev(s)
                te.append(time.perf_counter() - t0)
                gc.collect()
                t0 = time.perf_counter()
                for s in sub:
                    bev(s)
                tp.append(time.perf_counter() - t0)
            res["timed_sits"] = k
            res["reps"] = a.reps
            res["eval_us_reps"] = [round(x / k * 1e6, 2) for x in te]
            res["plain_us_reps"] = [round(x / k * 1e6, 3) for x in tp]
            res["eval_us"] = round(statistics.median(te) / k * 1e6, 2)
            res["plain_us"] = round(statistics.median(tp) / k * 1e6, 3)
            res["ratio"] = round(statistics.median(te) / statistics.median(tp), 2)
        res["loadavg_end"] = os.getloadavg()
        res["ok"] = True
    except BaseException as e:  # report, never hide
        res["error"] = f"{type(e).__name__}: {e}"[:500]
        res["traceback"] = traceback.format_exc()[-1500:]
    print("RESULT " + json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
