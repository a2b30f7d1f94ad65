"""The control interface for tests: plain HTTP, JSON in and out.

POST   /control/services            {"name","clusterIP","ports":[{"name","port"}],"type","externalName"?,"labels"?}
PUT    /control/services/NAME       spec fields to replace (clusterIP, clusterIPs, ports, type, externalName, selector)
DELETE /control/services/NAME
POST   /control/recreate/NAME       {"clusterIP", "gapMs": 0}: DELETED, gap, ADDED
POST   /control/bulk                {"prefix", "count"}
POST   /control/fault               {"kind", "count", ...}: drop, gone-event, gone-status, status (code, retryAfter,
                                    verb), malformed, stall, unstall, compact, clear
POST   /control/tokens              {"tokens": [...]}: the accepted bearer tokens
POST   /control/bookmarks           {"intervalMs": N}
GET    /control/stats               {"lists","watches","openWatches","resourceVersion","requests"}
POST   /control/reset-stats
GET    /control/services            the current Services, for debugging
Mutating calls answer {"resourceVersion": "...", "emittedAtNs": time.time_ns() when handed to the watches}.
"""

import json
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from objects import dumps
from store import Conflict, NotFound


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ipsyncd-test-control"

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw.strip() else {}

    def handle_any(self, method):
        store = self.server.store
        parts = [p for p in urlsplit(self.path).path.split("/") if p]
        try:
            body = self.body()
            if parts[:1] != ["control"] or len(parts) < 2:
                return self.reply(404, {"error": "unknown control path %s" % self.path})
            what, name = parts[1], parts[2] if len(parts) > 2 else None
            if method == "GET" and what == "stats":
                return self.reply(200, store.stats_body())
            if method == "GET" and what == "services":
                with store.lock:
                    return self.reply(200, {"resourceVersion": str(store.rv), "items": list(store.services.values())})
            result = None
            if method == "POST" and what == "services" and name is None:
                if "name" not in body:
                    raise ValueError('"name" is required')
                result = store.create(body)
            elif method == "PUT" and what == "services" and name:
                result = store.update(name, body)
            elif method == "DELETE" and what == "services" and name:
                result = store.delete(name)
            elif method == "POST" and what == "recreate" and name:
                fields = {k: v for k, v in body.items() if k != "gapMs"}
                result = store.recreate(name, fields, int(body.get("gapMs", 0)))
            elif method == "POST" and what == "bulk":
                result = store.bulk(body.get("prefix", "svc"), int(body["count"]))
            elif method == "POST" and what == "fault":
                result = store.fault(body)
            elif method == "POST" and what == "tokens":
                store.tokens = frozenset(body.get("tokens", []))
                result = (store.rv, time.time_ns())
            elif method == "POST" and what == "bookmarks":
                result = store.set_bookmark_interval(int(body["intervalMs"]))
            elif method == "POST" and what == "reset-stats":
                result = store.reset_stats()
            else:
                return self.reply(404, {"error": "unknown control call %s %s" % (method, self.path)})
            self.reply(200, {"resourceVersion": str(result[0]), "emittedAtNs": result[1]})
        except NotFound as e:
            self.reply(404, {"error": str(e)})
        except Conflict as e:
            self.reply(409, {"error": str(e)})
        except (ValueError, KeyError, TypeError) as e:
            self.reply(400, {"error": "bad control request: %s" % e})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")
