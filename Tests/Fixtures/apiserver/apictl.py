#!/usr/bin/env python3
"""A tiny CLI over the test API server's control interface, for demos and benchmarks.

  apictl.py --control URL create api-gateway --cluster-ip 10.43.0.12 [--port http:9000 ...] [--type T]
  apictl.py --control URL update api-gateway --cluster-ip 10.43.0.13
  apictl.py --control URL recreate api-gateway --cluster-ip 127.0.0.12 [--gap-ms N]
  apictl.py --control URL delete api-gateway
  apictl.py --control URL bulk --prefix svc --count 5000
  apictl.py --control URL fault drop | gone-event | gone-status | status --code 429 --retry-after 2 [--verb list] ...
  apictl.py --control URL tokens TOKEN...
  apictl.py --control URL bookmarks --interval-ms 500
  apictl.py --control URL stats | reset-stats | services
Prints the server's JSON answer; exits 1 on an error answer.
"""

import argparse
import json
import sys
import urllib.error
import urllib.request


def call(control, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(control.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        sys.stderr.write("apictl: %s %s: %s %s\n" % (method, path, e.code, e.read().decode(errors="replace")))
        sys.exit(1)
    except urllib.error.URLError as e:
        sys.stderr.write("apictl: cannot reach the control interface at %s: %s\n" % (control, e.reason))
        sys.exit(1)


def ports(specs):
    """`http:9000`, `9000`, `http:80:30080` (name:port:nodePort) → control API ports."""
    out = []
    for spec in specs:
        parts = spec.split(":")
        port = {}
        if not parts[0].isdigit():
            port["name"] = parts.pop(0)
        port["port"] = int(parts[0])
        if len(parts) > 1:
            port["nodePort"] = int(parts[1])
        out.append(port)
    return out


def main():
    parser = argparse.ArgumentParser(description="Control the test Kubernetes API server.")
    parser.add_argument("--control", required=True, help="the control URL the server printed, http://127.0.0.1:PORT")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("create", "update"):
        p = sub.add_parser(name)
        p.add_argument("name")
        p.add_argument("--cluster-ip")
        p.add_argument("--port", action="append", default=[], help="name:port[:nodePort] or port (repeatable)")
        p.add_argument("--type")
        p.add_argument("--external-name")
    p = sub.add_parser("recreate")
    p.add_argument("name")
    p.add_argument("--cluster-ip", required=True)
    p.add_argument("--gap-ms", type=int, default=0)
    p = sub.add_parser("delete")
    p.add_argument("name")
    p = sub.add_parser("bulk")
    p.add_argument("--prefix", default="svc")
    p.add_argument("--count", type=int, required=True)
    p = sub.add_parser("fault")
    p.add_argument("kind", help="drop, gone-event, gone-status, status, malformed, stall, unstall, compact, clear")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--code", type=int)
    p.add_argument("--retry-after", type=int)
    p.add_argument("--verb", choices=["list", "watch", "any"])
    p = sub.add_parser("tokens")
    p.add_argument("tokens", nargs="*")
    p = sub.add_parser("bookmarks")
    p.add_argument("--interval-ms", type=int, required=True)
    for name in ("stats", "reset-stats", "services"):
        sub.add_parser(name)
    args = parser.parse_args()
    c = args.control

    if args.command in ("create", "update"):
        body = {}
        if args.cluster_ip is not None:
            body["clusterIP"] = args.cluster_ip
        if args.port:
            body["ports"] = ports(args.port)
        if args.type:
            body["type"] = args.type
        if args.external_name:
            body["externalName"] = args.external_name
        if args.command == "create":
            body["name"] = args.name
            answer = call(c, "POST", "/control/services", body)
        else:
            answer = call(c, "PUT", "/control/services/" + args.name, body)
    elif args.command == "recreate":
        answer = call(c, "POST", "/control/recreate/" + args.name, {"clusterIP": args.cluster_ip, "gapMs": args.gap_ms})
    elif args.command == "delete":
        answer = call(c, "DELETE", "/control/services/" + args.name)
    elif args.command == "bulk":
        answer = call(c, "POST", "/control/bulk", {"prefix": args.prefix, "count": args.count})
    elif args.command == "fault":
        body = {"kind": args.kind, "count": args.count}
        for key, value in (("code", args.code), ("retryAfter", args.retry_after), ("verb", args.verb)):
            if value is not None:
                body[key] = value
        answer = call(c, "POST", "/control/fault", body)
    elif args.command == "tokens":
        answer = call(c, "POST", "/control/tokens", {"tokens": args.tokens})
    elif args.command == "bookmarks":
        answer = call(c, "POST", "/control/bookmarks", {"intervalMs": args.interval_ms})
    elif args.command == "stats":
        answer = call(c, "GET", "/control/stats")
    elif args.command == "services":
        answer = call(c, "GET", "/control/services")
    else:
        answer = call(c, "POST", "/control/reset-stats", {})
    print(json.dumps(answer, indent=2))


if __name__ == "__main__":
    main()
