#!/usr/bin/env python3
"""Markdown tables from converge.py's result files, for docs/benchmarks.md.

  report.py --settle-ms 50 --poll-period 60 DIR
DIR holds floor.json, ipsyncd.json, kubectl.json, polljob.json, load-keep.json, load-kill.json
(any may be missing). Percentiles are nearest-rank: p99 of 40 samples is the largest.
"""
import argparse
import json
import math
import os


def pct(values, p):
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def load(directory, name):
    path = os.path.join(directory, name + ".json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def ms(seconds):
    return "%.1f ms" % (1000 * seconds) if seconds < 10 else "%.1f s" % seconds


# The steps of one apply, in order, as named in ipsyncd's `resync.trace` line (docs/design.md §8).
TRACE_STEPS = [
    ("event", "event decoded (the watch read the ADDED event)"),
    ("settled", "settle ended, resync started"),
    ("planned", "site read and plan made"),
    ("staged", "staged files written"),
    ("check_start", "check started"),
    ("check_end", "check ended (`nginx -t`)"),
    ("renamed", "new file renamed over the site file"),
    ("dir_synced", "directory fsynced"),
    ("reload_start", "reload command started"),
    ("reload_sent", "reload command ended (signal sent)"),
    ("workers_seen", "new nginx workers seen (confirmation)"),
]
FLOOR_STEPS = [("written", "new text written and fsynced (temporary file)"), ("renamed", "renamed over the site file"),
               ("check_end", "check ended (`nginx -t`)"), ("reload_sent", "reload command ended (`nginx -s reload`)")]


def traces(path):
    """{t0 ns: {step: ms after t0}} from `resync.trace t0=NS step=+MS …` lines."""
    found = {}
    if not path or not os.path.exists(path):
        return found
    with open(path, errors="replace") as f:
        for line in f:
            if "resync.trace t0=" not in line:
                continue
            words = line.split("resync.trace ", 1)[1].split()
            t0 = int(words[0].split("=")[1])
            found[t0] = {k: float(v.lstrip("+")) for k, v in (w.split("=", 1) for w in words[1:] if "=" in w)}
    return found


def phase_table(floor, daemon, trace_log):
    """Median instant of each step, from the API server's event (ipsyncd) or the start of the edit (floor)."""
    print("\nPhases (median instant after the trigger: the API server's ADDED event for ipsyncd, the start of the edit for the floor):\n")
    print("| step | ipsyncd | floor |")
    print("|---|---|---|")
    rows = {}
    if daemon:
        found = traces(trace_log)
        for r in daemon["rounds"]:
            if r["converged"] is None or "eventNs" not in r:
                continue
            # The trace whose event came within 1 s after the API server's.
            match = [t0 for t0 in found if 0 <= t0 - r["eventNs"] < 1e9]
            if match:
                trace, offset = found[match[0]], (match[0] - r["eventNs"]) / 1e6
                for step, _ in TRACE_STEPS:
                    if step in trace:
                        rows.setdefault(("ipsyncd", step), []).append(offset + trace[step])
            rows.setdefault(("ipsyncd", "answer"), []).append(1000 * r["converged"])
    if floor:
        for r in floor["rounds"]:
            for step, value in (r.get("phases") or {}).items():
                rows.setdefault(("floor", step), []).append(value)
            if r["converged"] is not None:
                rows.setdefault(("floor", "answer"), []).append(1000 * r["converged"])

    def cell(who, step):
        values = rows.get((who, step))
        return "%.1f ms (n=%d)" % (pct(values, 50), len(values)) if values else ""
    for step, label in TRACE_STEPS + [s for s in FLOOR_STEPS if s[0] not in dict(TRACE_STEPS)] + [("answer", "first answer from the new backend")]:
        if rows.get(("ipsyncd", step)) or rows.get(("floor", step)):
            print("| %s | %s | %s |" % (label, cell("ipsyncd", step), cell("floor", step)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--settle-ms", type=float, required=True)
    p.add_argument("--poll-period", type=float, default=60)
    p.add_argument("--trace-log", help="ipsyncd's log with `resync.trace` lines (--log-level debug)")
    p.add_argument("dir")
    args = p.parse_args()
    settle = args.settle_ms / 1000

    def times(run):
        return [r["converged"] for r in run["rounds"] if r["converged"] is not None]

    floor, daemon = load(args.dir, "floor"), load(args.dir, "ipsyncd")
    kubectl, job = load(args.dir, "kubectl"), load(args.dir, "polljob")
    def load_of(run):
        return " → ".join(run.get("loadavg", ["?", "?"]))

    first = next((r for r in (floor, daemon, kubectl, job) if r), None)
    if first:
        print("Poller: %s, every %g ms.\n" % (
            "a new HTTP/1.0 connection per request" if first.get("poller", "persistent") == "fresh"
            else "one persistent HTTP/1.1 connection", first.get("pollMs", 1)))
    print("| what converges | n | median | p99 | mean | min | max | load average (start → end) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, run in (("floor: write + `nginx -t` + reload, no watch", floor),
                       ("**ipsyncd run** (settle %g ms)" % args.settle_ms, daemon),
                       ("`kubectl get --watch` + sed + `nginx -t` + reload loop", kubectl)):
        if run:
            t = times(run)
            print("| %s | %d | %s | %s | %s | %s | %s | %s |" % (label, len(t), ms(pct(t, 50)), ms(pct(t, 99)),
                  ms(sum(t) / len(t)), ms(min(t)), ms(max(t)), load_of(run)))
    if job:
        t = times(job)
        run_median, run_p99, runs = pct(t, 50), pct(t, 99), len(t)
        # The job fires at a uniformly random moment of its period after the change.
        print("| once-a-minute polling job (modelled: U(0, %gs) wait + the job's own run, measured) | %d | %s | %s | %s | %s | %s | %s |" % (
            args.poll_period, len(t), ms(args.poll_period / 2 + run_median), ms(0.99 * args.poll_period + run_p99),
            ms(args.poll_period / 2 + sum(t) / len(t)), ms(min(t)), ms(args.poll_period + max(t)), load_of(job)))
    cron = load(args.dir, "cron")
    if cron:
        t = times(cron)
        print("| a real once-a-minute job (`sleep 60` loop), recreates at random moments | %d | %s | %s | %s | %s | %s | %s |" % (
            len(t), ms(pct(t, 50)), ms(pct(t, 99)), ms(sum(t) / len(t)), ms(min(t)), ms(max(t)), load_of(cron)))
    if job:
        print("\nThe polling job's own run (kubectl get + sed + `nginx -t` + reload, started right at the recreate): "
              "median %s, p99 %s over %d runs." % (ms(run_median), ms(run_p99), runs))
    if floor and daemon:
        f, d = pct(times(floor), 50), times(daemon)
        r50, r99 = (pct(d, 50) - settle) / f, (pct(d, 99) - settle) / f
        print("\nFloor median %s. `(median − settle) / floor` = (%s − %g ms) / %s = **%.2f** (target ≤ 1.25: %s); "
              "`(p99 − settle) / floor` = (%s − %g ms) / %s = **%.2f** (target ≤ 1.5: %s). "
              "Load average: floor %s, ipsyncd %s." % (
                  ms(f), ms(pct(d, 50)), args.settle_ms, ms(f), r50, "met" if r50 <= 1.25 else "missed",
                  ms(pct(d, 99)), args.settle_ms, ms(f), r99, "met" if r99 <= 1.5 else "missed",
                  load_of(floor), load_of(daemon)))
    if floor or daemon:
        phase_table(floor, daemon, args.trace_log)
    for name, title in (("load-keep", "old backend kept up until the new one serves"),
                        ("load-kill", "old backend killed at the recreate")):
        run = load(args.dir, name)
        if not run:
            continue
        l, t = run["load"], times(run)
        print("\nUnder load, %s: %d recreates, %d requests at %.0f req/s, **%d failed** (%s), "
              "%d stale keep-alive connections closed by a reloaded worker and retried; "
              "convergence median %s, p99 %s; load average %s." % (
                  title, len(t), l["sent"], l["rate"], l["failed"], ", ".join(l["kinds"]) or "none",
                  l["retriedStaleKeepalive"], ms(pct(t, 50)), ms(pct(t, 99)), load_of(run)))
        if name == "load-kill":
            # The backend is killed just before the control request: both count from there.
            windows = [(r["failWindow"], r["fromRequest"]) for r in run["rounds"] if r["converged"] is not None]
            over = [w for w, c in windows if w > c]
            print("Failed-request window (kill and recreate → the last request sent that failed; a request sent at most 50 ms before a kill and failing is that kill's) per recreate: median %s, max %s; "
                  "longer than that recreate's convergence time (both from the kill) in %d of %d recreates." % (
                      ms(pct([w for w, _ in windows], 50)), ms(max(w for w, _ in windows)), len(over), len(windows)))


if __name__ == "__main__":
    main()
