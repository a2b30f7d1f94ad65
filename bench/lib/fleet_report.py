#!/usr/bin/env python3
"""The fleet benchmark's figures (bench/fleet.sh): from the stats samples of the restarted API server
and each daemon's log, when the daemons came back (watches and LISTs per second after the restart,
first/median/last reconnect), how many LISTs each made, and whether each one converged."""
import datetime
import glob
import json
import os
import re
import statistics
import sys

work, stopped_at, started_at, recreated_at, new_ip = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
samples = [json.loads(l) for l in open(os.path.join(work, "stats.jsonl")) if l.strip()]
after = [s for s in samples if s["t"] >= started_at and s.get("up")]


def stamp(line):
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z", line)
    if not m:
        return None
    return datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc).timestamp()


def per_second(key):
    """Requests per whole second after the new server started, from the counter's increments."""
    buckets, last = {}, 0
    for s in after:
        second = int(s["t"] - started_at)
        buckets[second] = buckets.get(second, 0) + max(0, s[key] - last)
        last = s[key]
    return buckets, last


def histogram(buckets):
    top = max(buckets.values() or [1])
    return "\n".join("  %3d s %4d %s" % (k, v, "#" * max(1 if v else 0, round(40 * v / top))) for k, v in sorted(buckets.items()) if v)


def spread(times):
    if not times:
        return "none"
    times = sorted(times)
    return "first %.2f s, median %.2f s, last %.2f s (n=%d)" % (times[0], statistics.median(times), times[-1], len(times))


watch_buckets, watches = per_second("watches")
list_buckets, lists = per_second("lists")
logs = sorted(glob.glob(os.path.join(work, "d*/log")))
restored, relists, converged, reconnect_metric = [], [], [], []
for path in logs:
    lines = open(path, errors="replace").read().splitlines()
    back = [stamp(l) for l in lines if "watch restored" in l and (stamp(l) or 0) >= stopped_at]
    if back:
        restored.append(back[0] - started_at)
    relists.append(sum(1 for l in lines if "relisting" in l and (stamp(l) or 0) >= stopped_at))
    done = [stamp(l) for l in lines if new_ip in l and (stamp(l) or 0) >= recreated_at]
    if done:
        converged.append(done[0] - recreated_at)
    metrics = os.path.join(os.path.dirname(path), "metrics.prom")
    if os.path.exists(metrics):
        for l in open(metrics):
            if l.startswith("ipsyncd_watch_reconnects_total "):
                reconnect_metric.append(float(l.split()[1]))

n = len(logs)
print("daemons: %d; API server down %.1f s" % (n, started_at - stopped_at))
print("after the restart (t = 0 when the new server answered), by the server's counters:")
print(" WATCH requests: %d (%.2f per daemon), per second:\n%s" % (watches, watches / max(n, 1), histogram(watch_buckets)))
print(" LIST requests: %d (%.2f per daemon), per second:\n%s" % (lists, lists / max(n, 1), histogram(list_buckets) or "  none"))
print("each daemon's first 'watch restored' after the restart: " + spread(restored))
print("'relisting' lines per daemon after the stop: min %d, max %d, total %d" % (min(relists or [0]), max(relists or [0]), sum(relists)))
if reconnect_metric:
    print("ipsyncd_watch_reconnects_total per daemon: min %d, median %d, max %d" % (min(reconnect_metric), statistics.median(reconnect_metric), max(reconnect_metric)))
print("converged after the recreate (a line naming %s): %d of %d; %s" % (new_ip, len(converged), n, spread(converged)))
sys.exit(0 if len(converged) == n else 1)
