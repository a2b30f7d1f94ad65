#!/usr/bin/env python3
"""Recreates api-gateway with a new ClusterIP, again and again, and times how long until a request
through nginx is answered by the backend at the new address. Backends at 127.0.0.21 and
127.0.0.22 (port 19000) answer `A` and `B`; each round moves the Service to the other one.

  converge.py --control URL --nginx 127.0.0.1:PORT --mode api|direct --count N --out FILE.json
      [--hook CMD] [--load RATE] [--kill-old] [--gap-ms 0] [--pause 1.5] [--pause-random S] [--timeout 10]
      [--site PATH --check-cmd CMD --reload-cmd CMD]        (direct)

  api     the trigger is the recreate through the API server's control interface; whatever watches
          the API (ipsyncd, a kubectl loop, or --hook CMD run right after the trigger) must follow it.
  direct  the floor: the trigger writes the new address into the site file, runs the check command
          and the reload command, as a person or a script would with no watch at all (the API
          server is updated afterwards, outside the timed span, to stay consistent).

A poller asks nginx every 2 ms (--poll-ms) from the trigger on, each time over a new connection
(HTTP/1.0, so nginx closes it after the answer): a new connection is accepted by whichever worker
serves at that moment, so the time measured is when nginx first serves the new address. A persistent
connection would stay with an old worker until that worker finishes its requests and exits after
the reload, and add the old worker's shutdown to every figure (--poller persistent keeps that
method, for comparison). In api mode the
time counts from the moment the API server handed the new Service's ADDED event to the open watches
(its `emittedAtNs`; `fromRequest` counts from before the control request); in direct mode from
before the write. --load RATE adds
steady traffic (persistent connections, paced) and counts failed requests; --kill-old kills the old
backend at the trigger and starts it again after the round.
"""
import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

PORT = 19000
# A and B for single recreates; C and D too for bursts, so that each recreate of a burst moves to an address
# not served during that burst.
BACKENDS = {"A": "127.0.0.21", "B": "127.0.0.22", "C": "127.0.0.23", "D": "127.0.0.24"}
CYCLE = "ABCD"
NAME_OF = {ip: name for name, ip in BACKENDS.items()}
HERE = os.path.dirname(os.path.abspath(__file__))


def now():
    return time.monotonic()


def control_call(control, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(control.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return json.loads(response.read())


class Backend:
    def __init__(self, name):
        self.name, self.process = name, None

    def start(self):
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "backend.py"), self.name,
                                         BACKENDS[self.name], str(PORT)], stdout=subprocess.PIPE)
        if self.process.stdout.readline().strip() != b"ready":
            sys.exit("converge: backend %s did not start" % self.name)

    def kill(self):
        if self.process:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


class Client:
    """One persistent HTTP/1.1 connection to nginx. A request that fails on a reused connection
    before any byte of an answer (nginx closed it: a reloaded worker closes idle keep-alive
    connections) is sent once more on a new connection, as HTTP clients do for idempotent requests."""

    def __init__(self, host, port):
        self.host, self.port, self.conn, self.used = host, port, None, False
        self.retried = 0

    def get(self, path="/api/bench"):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn, self.used = http.client.HTTPConnection(self.host, self.port, timeout=5), False
            try:
                self.conn.request("GET", path)
                response = self.conn.getresponse()
                body = response.read()
                self.used = True
                if response.will_close:
                    self.close()
                return response.status, body.decode(errors="replace").strip()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                reused = self.used
                self.close()
                if attempt == 0 and reused:
                    self.retried += 1
                    continue
                return None, type(e).__name__
            except (OSError, http.client.HTTPException) as e:
                self.close()
                return None, type(e).__name__
        return None, "unreachable"

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


class FreshClient:
    """A new TCP connection and an HTTP/1.0 request for every poll: the answer comes from a worker
    that accepts connections at that moment, never from an old worker that is shutting down."""

    def __init__(self, host, port):
        self.host, self.port, self.retried = host, port, 0

    def get(self, path="/api/bench"):
        try:
            with socket.create_connection((self.host, self.port), timeout=5) as s:
                s.sendall(b"GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path.encode(), self.host.encode()))
                chunks = []
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    chunks.append(chunk)
        except OSError as e:
            return None, type(e).__name__
        head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return None, "bad answer"
        return status, body.decode(errors="replace").strip()

    def close(self):
        pass


class Load:
    """Steady traffic at `rate` requests/s over `threads` persistent connections; keeps every failure."""

    def __init__(self, host, port, rate, threads=4):
        self.host, self.port, self.rate, self.threads = host, port, rate, threads
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.sent = self.ok = self.retried = 0
        self.failures = []  # (monotonic time the request was sent, status or error)
        self.workers = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]

    def start(self):
        self.started = now()
        for w in self.workers:
            w.start()

    def run(self):
        client = Client(self.host, self.port)
        period = self.threads / self.rate
        next_at = now()
        while not self.stop_flag.is_set():
            t = now()
            status, body = client.get()
            with self.lock:
                self.sent += 1
                if status == 200:
                    self.ok += 1
                else:
                    self.failures.append((t, status if status else body))
            next_at += period
            delay = next_at - now()
            if delay > 0:
                time.sleep(delay)
            else:
                next_at = now()  # behind: do not burst to catch up
        with self.lock:
            self.retried += client.retried
        client.close()

    def stop(self):
        self.stop_flag.set()
        for w in self.workers:
            w.join()
        self.duration = now() - self.started


def current_ip(control):
    for item in control_call(control, "GET", "/control/services")["items"]:
        if item["metadata"]["name"] == "api-gateway":
            return item["spec"]["clusterIP"]
    sys.exit("converge: no Service api-gateway")


def wait_for(poller, name, timeout, period=0.002):
    """Asks every `period` seconds (from the start of one request to the next) until `name` answers;
    returns the time of that answer, or None."""
    deadline = now() + timeout
    next_at = now()
    while now() < deadline:
        status, body = poller.get()
        if status == 200 and body == name:
            return now()
        next_at += period
        delay = next_at - now()
        if delay > 0:
            time.sleep(delay)
        else:
            next_at = now()
    return None


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def run(cmd):
    return subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def direct_edit(args, old_ip, new_ip, t0):
    """The floor: the new text written to a temporary file and fsynced, renamed over the site file, then the
    check and the reload. Returns the instant (ms after t0) at which each step ended."""
    site = os.path.realpath(args.site)
    with open(site) as f:
        text = f.read()
    old, new = "http://%s:%d" % (old_ip, PORT), "http://%s:%d" % (new_ip, PORT)
    if old not in text:
        sys.exit("converge: %s not in %s" % (old, args.site))
    temp = os.path.join(os.path.dirname(site), ".floor.tmp")
    phases = {}
    with open(temp, "w") as f:
        f.write(text.replace(old, new))
        f.flush()
        os.fsync(f.fileno())
    phases["written"] = 1000 * (now() - t0)
    os.rename(temp, site)
    phases["renamed"] = 1000 * (now() - t0)
    for name, cmd in (("check_end", args.check_cmd), ("reload_sent", args.reload_cmd)):
        result = run(cmd)
        if result.returncode != 0:
            sys.exit("converge: %s failed: %s" % (cmd, result.stderr.decode(errors="replace")))
        phases[name] = 1000 * (now() - t0)
    return phases


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--control", required=True)
    p.add_argument("--nginx", required=True, help="host:port of nginx")
    p.add_argument("--mode", choices=["api", "direct"], required=True)
    p.add_argument("--count", type=int, default=30)
    p.add_argument("--out", required=True)
    p.add_argument("--label", default="")
    p.add_argument("--hook")
    p.add_argument("--load", type=float, default=0)
    p.add_argument("--kill-old", action="store_true")
    p.add_argument("--gap-ms", type=int, default=0)
    p.add_argument("--burst", type=int, default=1,
                   help="recreates per round, --burst-gap-ms apart; the time counts from the last one's event")
    p.add_argument("--burst-gap-ms", type=float, default=40)
    p.add_argument("--pause", type=float, default=1.5, help="seconds after each convergence (min reload interval)")
    p.add_argument("--pause-random", type=float, default=0,
                   help="plus a uniformly random 0..this many seconds (so that a periodic job is met at random)")
    p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--poller", choices=["fresh", "persistent"], default="fresh",
                   help="a new HTTP/1.0 connection per poll (default), or one persistent HTTP/1.1 connection")
    p.add_argument("--poll-ms", type=float, default=2, help="poll period in ms")
    p.add_argument("--site")
    p.add_argument("--check-cmd")
    p.add_argument("--reload-cmd")
    args = p.parse_args()
    host, port = args.nginx.rsplit(":", 1)

    backends = {name: Backend(name) for name in BACKENDS}
    for b in backends.values():
        b.start()
    poller = FreshClient(host, int(port)) if args.poller == "fresh" else Client(host, int(port))
    period = args.poll_ms / 1000
    load_start = loadavg()
    ip = current_ip(args.control)
    if wait_for(poller, NAME_OF[ip], 15) is None:
        sys.exit("converge: nginx does not reach api-gateway's backend at %s" % ip)
    time.sleep(args.pause)

    load = Load(host, int(port), args.load) if args.load else None
    if load:
        load.start()
        time.sleep(1)
    rounds = []
    try:
        for i in range(args.count):
            old_ip = ip
            new_ip = BACKENDS["B" if NAME_OF[old_ip] == "A" else "A"]
            if args.burst > 1:
                start = CYCLE.index(NAME_OF[old_ip])
                steps = [BACKENDS[CYCLE[(start + k) % len(CYCLE)]] for k in range(1, args.burst + 1)]
                new_ip = steps[-1]
            hook = None
            t0 = now()
            if args.kill_old:
                backends[NAME_OF[old_ip]].kill()
            t_event = t0
            phases = None
            if args.mode == "api":
                if args.burst > 1:
                    for step in steps[:-1]:
                        control_call(args.control, "POST", "/control/recreate/api-gateway",
                                     {"clusterIP": step, "gapMs": args.gap_ms})
                        time.sleep(args.burst_gap_ms / 1000)
                wall0, mono0 = time.time_ns(), now()
                answer = control_call(args.control, "POST", "/control/recreate/api-gateway",
                                      {"clusterIP": new_ip, "gapMs": args.gap_ms})
                # When the API server handed the ADDED event to the watches (the DELETED just before it).
                t_event = mono0 + (answer["emittedAtNs"] - wall0) / 1e9
                if args.hook:
                    hook = threading.Thread(target=run, args=(args.hook,))
                    hook.start()
            else:
                # The edit runs beside the poller, which asks from the trigger on, as in api mode.
                edit = {}
                hook = threading.Thread(target=lambda: edit.update(direct_edit(args, old_ip, new_ip, t0)))
                hook.start()
            t1 = wait_for(poller, NAME_OF[new_ip], args.timeout, period)
            if hook:
                hook.join()
            if args.mode == "direct":
                phases = edit
            if args.mode == "direct":
                control_call(args.control, "POST", "/control/recreate/api-gateway", {"clusterIP": new_ip, "gapMs": 0})
            rounds.append({"t0": t0, "converged": None if t1 is None else t1 - t_event,
                           "fromRequest": None if t1 is None else t1 - t0,
                           # CLOCK_MONOTONIC ns, the clock of ipsyncd's resync.trace lines.
                           "eventNs": int(t_event * 1e9), "phases": phases})
            if t1 is None:
                sys.stderr.write("converge: round %d did not converge within %gs\n" % (i, args.timeout))
                break
            ip = new_ip
            if args.kill_old:
                backends[NAME_OF[old_ip]].start()
            time.sleep(args.pause + random.uniform(0, args.pause_random))
    finally:
        if load:
            load.stop()
        for b in backends.values():
            b.kill()

    result = {"label": args.label, "mode": args.mode, "count": len(rounds), "rounds": rounds,
              "poller": args.poller, "pollMs": args.poll_ms, "loadavg": [load_start, loadavg()]}
    if load:
        # The failures of a round: requests sent from its trigger on until the next trigger. A request
        # sent up to IN_FLIGHT before a kill and still in flight at the kill fails because of it.
        in_flight = 0.05
        starts = [r["t0"] - (in_flight if args.kill_old else 0) for r in rounds] + [float("inf")]
        for i, r in enumerate(rounds):
            fails = [t for t, _ in load.failures if starts[i] <= t < starts[i + 1]]
            r["failed"] = len(fails)
            r["failWindow"] = max(0.0, max(fails) - r["t0"]) if fails else 0.0
        result["load"] = {"sent": load.sent, "ok": load.ok, "failed": len(load.failures),
                          "retriedStaleKeepalive": load.retried, "rate": load.sent / load.duration,
                          "kinds": sorted({str(k) for _, k in load.failures})}
    with open(args.out, "w") as f:
        json.dump(result, f)
    ok = [r["converged"] for r in rounds if r["converged"] is not None]
    sys.stderr.write("converge %s: %d rounds, median %.1f ms\n" % (
        args.label or args.mode, len(ok), 1000 * sorted(ok)[len(ok) // 2] if ok else float("nan")))
    if len(ok) < args.count:
        sys.exit(1)


if __name__ == "__main__":
    main()
