#!/usr/bin/env python3
"""Paced Service events through the test API server's control interface.

  events.py --control URL --duration SECONDS [--rate N --prefix svc --count 5000]
            [--recreate-every SECONDS]
--rate N: N updates per second of unrelated Services PREFIX-0 … PREFIX-(COUNT-1) (a port number
changes: a MODIFIED event that no route cares about). --recreate-every S: every S seconds one of the
routed Services (frontend-nextjs, api-gateway, websocket-gateway in turn) is deleted and created
again with a new ClusterIP (a change ipsyncd applies). Prints what it sent as JSON.
"""
import argparse
import http.client
import json
import random
import sys
import time
from urllib.parse import urlsplit

ROUTED = [("frontend-nextjs", 10), ("api-gateway", 11), ("websocket-gateway", 12)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--control", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--rate", type=float, default=0)
    p.add_argument("--prefix", default="svc")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--recreate-every", type=float, default=0)
    args = p.parse_args()
    url = urlsplit(args.control)

    def call(method, path, body):
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        try:
            conn.request(method, path, json.dumps(body), {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                sys.exit("events: %s %s: %d" % (method, path, response.status))
        finally:
            conn.close()

    rng = random.Random(5)
    start = time.monotonic()
    end = start + args.duration
    updates = recreates = 0
    next_update = start if args.rate else float("inf")
    next_recreate = start + args.recreate_every if args.recreate_every else float("inf")
    while True:
        t = min(next_update, next_recreate)
        if t >= end:
            break
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if next_update <= next_recreate:
            i = rng.randrange(args.count)
            call("PUT", "/control/services/%s-%d" % (args.prefix, i),
                 {"ports": [{"name": "http", "port": 8000 + rng.randrange(1000)}]})
            updates += 1
            next_update += 1 / args.rate
        else:
            name, host = ROUTED[recreates % len(ROUTED)]
            # 127.0.1.x, 127.0.2.x: a different address each time, no backend needed.
            ip = "127.0.%d.%d" % (1 + (recreates // 250) % 250, host + recreates % 200)
            call("POST", "/control/recreate/" + name, {"clusterIP": ip, "gapMs": 0})
            recreates += 1
            next_recreate += args.recreate_every
    elapsed = time.monotonic() - start
    print(json.dumps({"updates": updates, "recreates": recreates, "seconds": round(elapsed, 1),
                      "updateRate": round(updates / elapsed, 1)}))


if __name__ == "__main__":
    main()
