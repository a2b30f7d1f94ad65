#!/usr/bin/env python3
"""Polls the test API server's /control/stats every 100 ms until killed; one JSON line per sample:
{"t": seconds since the epoch, "up": bool, "lists": n, "watches": n, "open": n} (counters are the
server's own: a restarted server starts again from 0)."""
import json
import sys
import time
import urllib.request

control, out = sys.argv[1], sys.argv[2]
with open(out, "a", buffering=1) as f:
    while True:
        t = time.time()
        try:
            with urllib.request.urlopen(control + "/control/stats", timeout=1) as r:
                s = json.load(r)
            f.write(json.dumps({"t": t, "up": True, "lists": s["lists"], "watches": s["watches"],
                                "open": s["openWatches"]}) + "\n")
        except Exception:
            f.write(json.dumps({"t": t, "up": False}) + "\n")
        time.sleep(max(0.0, 0.1 - (time.time() - t)))
