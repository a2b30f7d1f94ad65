"""The Kubernetes API side: discovery, list, get and watch of core/v1 Services."""

import base64
import select
import socket
import ssl
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import objects
from objects import dumps, status

API_VERSIONS = {"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}
API_GROUPS = {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
API_RESOURCES = {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
    {"name": "services", "singularName": "service", "namespaced": True, "kind": "Service",
     "verbs": ["get", "list", "watch"], "shortNames": ["svc"], "categories": ["all"]},
    {"name": "namespaces", "singularName": "namespace", "namespaced": False, "kind": "Namespace",
     "verbs": ["get", "list", "watch"], "shortNames": ["ns"]}]}
VERSION = {"major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "ipsyncd-test",
           "gitTreeState": "clean", "buildDate": "2025-04-23T00:00:00Z", "goVersion": "go1.24.2",
           "compiler": "gc", "platform": "linux/amd64"}
NOT_FOUND = "the server could not find the requested resource"
MALFORMED_LINE = b"this is not json {{{\n"


def flag(query, name):
    """kube-apiserver's boolean parsing: false if absent, "0" or "false" (any case); otherwise true."""
    value = query.get(name)
    return value is not None and value.lower() not in ("0", "false")


class Rejected(Exception):
    def __init__(self, code, body, headers=None):
        super().__init__(body.get("message", ""))
        self.code, self.body, self.headers = code, body, headers or {}


def invalid(message):
    return Rejected(422, status(422, "Invalid", message, {"kind": "ListOptions"}))


def expired(message):
    return Rejected(410, status(410, "Expired", message))


def injected(fault):
    code = fault["code"]
    headers = {}
    if fault.get("retryAfter") is not None:
        headers["Retry-After"] = str(int(fault["retryAfter"]))
    if code == 429:
        details = {"retryAfterSeconds": int(fault.get("retryAfter") or 1)}
        headers.setdefault("Retry-After", str(details["retryAfterSeconds"]))
        return Rejected(code, status(429, "TooManyRequests", "Too many requests, please try again later.", details), headers)
    if code == 403:
        return Rejected(code, status(403, "Forbidden", 'services is forbidden: User "ipsyncd-test" cannot list resource '
                                     '"services" in API group "" in the namespace "flowmaster"', {"kind": "services"}), headers)
    if code == 401:
        return Rejected(code, status(401, "Unauthorized", "Unauthorized"), headers)
    if code == 503:
        return Rejected(code, status(503, "ServiceUnavailable", "the server is currently unable to handle the request"), headers)
    return Rejected(code, status(500, "InternalError", "Internal error occurred: injected fault",
                                 {"causes": [{"message": "injected fault"}]}), headers)


class APIHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ipsyncd-test-apiserver"
    timeout = 600  # an idle keep-alive connection is closed after this

    def log_message(self, *args):
        pass

    @property
    def store(self):
        return self.server.store

    # --- plumbing -------------------------------------------------------------------------------

    def send_body(self, code, body, headers=None, content_type="application/json"):
        data = body if isinstance(body, bytes) else dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def authenticated(self):
        if isinstance(self.connection, ssl.SSLSocket) and self.connection.getpeercert():
            return True
        auth = self.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:].strip() in self.store.tokens

    def not_allowed(self):
        self.close_connection = True
        self.send_body(405, status(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"))

    do_POST = do_PUT = do_PATCH = do_DELETE = not_allowed

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        parts = [p for p in url.path.split("/") if p]
        watch = flag(query, "watch")
        self.query_include = query.get("includeObject", "Metadata")
        if parts[:3] == ["api", "v1", "watch"]:
            parts, watch = parts[:2] + parts[3:], True
        verb = None
        if parts[:2] == ["api", "v1"] and "services" in parts[2:] and parts[-1] == "services":
            verb = "watches" if watch else "lists"
        self.store.record("GET " + self.path, verb)
        try:
            if not self.authenticated():
                raise Rejected(401, status(401, "Unauthorized", "Unauthorized"))
            self.route(parts, query, watch)
        except Rejected as r:
            self.send_body(r.code, r.body, r.headers)

    def route(self, parts, query, watch):
        ns = self.store.namespace
        if parts == ["api"]:
            return self.send_body(200, API_VERSIONS)
        if parts == ["apis"]:
            return self.send_body(200, API_GROUPS)
        if parts == ["api", "v1"]:
            return self.send_body(200, API_RESOURCES)
        if parts == ["version"]:
            return self.send_body(200, VERSION)
        if parts in (["healthz"], ["livez"], ["readyz"]):
            return self.send_body(200, b"ok", content_type="text/plain; charset=utf-8")
        if parts == ["api", "v1", "namespaces"]:
            return self.send_body(200, {"kind": "NamespaceList", "apiVersion": "v1",
                                        "metadata": {"resourceVersion": str(self.store.rv)},
                                        "items": [self.namespace_object()]})
        if parts == ["api", "v1", "namespaces", ns]:
            return self.send_body(200, dict({"kind": "Namespace", "apiVersion": "v1"}, **self.namespace_object()))
        if parts == ["api", "v1", "services"]:
            return self.collection(query, watch, None)
        if len(parts) == 5 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "services":
            return self.collection(query, watch, parts[3])
        if len(parts) == 6 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "services":
            if watch:
                query["fieldSelector"] = "metadata.name=" + parts[5]
                return self.collection(query, True, parts[3])
            return self.get_one(parts[3], parts[5])
        raise Rejected(404, status(404, "NotFound", NOT_FOUND, {}))

    def namespace_object(self):
        return {"metadata": {"name": self.store.namespace, "uid": "00000000-0000-4000-8000-000000000001",
                             "resourceVersion": "1", "creationTimestamp": self.store.started},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def get_one(self, ns, name):
        obj = self.store.services.get(name) if ns == self.store.namespace else None
        if obj is None:
            raise Rejected(404, status(404, "NotFound", 'services "%s" not found' % name,
                                       {"name": name, "kind": "services"}))
        self.send_body(200, self.as_table([obj], obj["metadata"]["resourceVersion"]) if self.wants_table()
                       else objects.with_kind(obj))

    def wants_table(self):
        return "as=Table" in self.headers.get("Accept", "")

    def as_table(self, objs, rv, columns=True, cont=None, remaining=None):
        return objects.table(objs, rv, self.query_include, columns, cont, remaining)

    def matcher(self, query, ns):
        try:
            labels = objects.label_matcher(query.get("labelSelector"))
            fields = objects.field_matcher(query.get("fieldSelector"))
        except objects.SelectorError as e:
            raise Rejected(400, status(400, "BadRequest", str(e)))
        same_ns = ns is None or ns == self.store.namespace
        return lambda obj: same_ns and labels(obj) and fields(obj)

    def collection(self, query, watch, ns):
        matches = self.matcher(query, ns)
        if watch:
            return self.watch(query, matches)
        return self.list(query, matches)

    # --- list -----------------------------------------------------------------------------------

    def list(self, query, matches):
        if "sendInitialEvents" in query:
            raise invalid("sendInitialEvents is forbidden for list")
        rvm = query.get("resourceVersionMatch", "")
        rv_text = query.get("resourceVersion", "")
        if rvm and not rv_text:
            raise invalid("resourceVersionMatch is forbidden unless resourceVersion is provided")
        if rvm not in ("", "NotOlderThan", "Exact"):
            raise invalid('resourceVersionMatch: Unsupported value: "%s"' % rvm)
        fault = self.store.take_status_fault("list")
        if fault:
            raise injected(fault)
        special = self.store.take_list_fault()
        if special and special["kind"] == "html":
            return self.send_body(200, b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>proxy login</body></html>\n",
                                  content_type="text/html; charset=utf-8")
        if special and special["kind"] == "drip":
            return self.drip(special)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise Rejected(400, status(400, "BadRequest", "limit: invalid value %r" % query.get("limit")))
        cont = query.get("continue", "")
        if cont:
            if rv_text:
                raise invalid("specifying resource version is not allowed when using continue")
            try:
                ident, offset = (int(x) for x in base64.urlsafe_b64decode(cont.encode()).decode().split(":"))
            except (ValueError, UnicodeDecodeError):
                raise Rejected(400, status(400, "BadRequest", "continue key is not valid"))
            found = self.store.snapshot(ident)
            if found is None:
                raise expired("The provided continue parameter is too old to display a consistent list result. "
                              "You can start a new list without the continue parameter.")
            rv, items, texts = found
        else:
            if rv_text not in ("", "0"):
                try:
                    wanted = int(rv_text)
                except ValueError:
                    raise Rejected(400, status(400, "BadRequest", "resourceVersion: Invalid value: %r" % rv_text))
                if (limit or rvm == "Exact") and self.store.expired(wanted):
                    raise expired("too old resource version: %d (%d)" % (wanted, self.store.history_start + 1))
            rv, items, texts = self.store.list(matches)
            ident, offset = None, 0
        end = offset + limit if limit else len(items)
        page, next_token, remaining = items[offset:end], None, None
        if end < len(items):
            if ident is None:
                ident = self.store.save_snapshot(rv, items, texts)
            next_token = base64.urlsafe_b64encode(("%d:%d" % (ident, offset + limit)).encode()).decode()
            remaining = len(items) - offset - limit
        if self.wants_table():
            return self.send_body(200, self.as_table(page, rv, True, next_token, remaining))
        meta = {"resourceVersion": rv}
        if next_token:
            meta["continue"] = next_token
            meta["remainingItemCount"] = remaining
        head = dumps({"kind": "ServiceList", "apiVersion": "v1", "metadata": meta})[:-1]
        body = head + ',"items":[' + ",".join(texts[offset:end]) + "]}"
        self.send_body(200, body.encode())

    # --- watch ----------------------------------------------------------------------------------

    def drip(self, fault):
        """A list answer sent one byte per interval: from the status line on (phase headers) or after
        the headers (phase body). Ends when the client goes away; a test's client never waits that long."""
        body = dumps({"kind": "ServiceList", "apiVersion": "v1", "metadata": {"resourceVersion": str(self.store.rv)},
                      "items": []}).encode() + b" " * 4096
        head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)).encode()
        self.close_connection = True
        slow = head + body if fault["phase"] == "headers" else body
        if fault["phase"] == "body":
            self.wfile.write(head)
            self.wfile.flush()
        try:
            for i in range(len(slow)):
                self.wfile.write(slow[i:i + 1])
                self.wfile.flush()
                time.sleep(fault["intervalMs"] / 1000.0)
        except OSError:
            pass

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")

    def error_event(self, message):
        self.start_stream()
        self.chunk((dumps({"type": "ERROR", "object": status(410, "Expired", message)}) + "\n").encode())
        self.end_stream()

    def watch(self, query, matches):
        if "sendInitialEvents" in query:
            raise invalid('sendInitialEvents: Forbidden: sendInitialEvents is not supported by this server; '
                          'use list, then watch')
        if query.get("resourceVersionMatch"):
            raise invalid("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
        fault = self.store.take_status_fault("watch")
        if fault:
            raise injected(fault)
        if self.store.take_fault("gone-status"):
            raise expired("too old resource version: injected fault")
        rv_text = query.get("resourceVersion", "")
        rv = None
        if rv_text not in ("", "0"):
            try:
                rv = int(rv_text)
            except ValueError:
                raise Rejected(400, status(400, "BadRequest", "resourceVersion: Invalid value: %r" % rv_text))
        try:
            timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else None
        except ValueError:
            raise Rejected(400, status(400, "BadRequest", "timeoutSeconds: invalid value"))
        if self.store.take_fault("gone-event"):
            return self.error_event("too old resource version: %s (injected fault)" % (rv_text or "0"))
        w, oldest = self.store.open_watch(rv, matches)
        if w is None:
            return self.error_event("too old resource version: %d (%s)" % (rv, oldest))
        try:
            self.start_stream()
            self.stream(w, timeout, flag(query, "allowWatchBookmarks"))
        except (OSError, ssl.SSLError):
            self.close_connection = True
        finally:
            self.store.close_watch(w)

    def client_gone(self):
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)  # a watch client sends nothing: readable means EOF or reset

    def stream(self, w, timeout, bookmarks):
        cond, store = self.store.cond, self.store
        start = time.monotonic()
        deadline = start + timeout if timeout else None
        # kube-apiserver sends a bookmark about 2 s before the deadline; scaled down for short watches
        pre_deadline = deadline - min(2.0, timeout / 2) if deadline else None
        last_bookmark, last_alive, table_first = start, start, True
        while True:
            events, bookmark_rv, end = [], None, None
            with cond:
                while True:
                    now = time.monotonic()
                    if w.dropped:
                        end = "drop"
                        break
                    if not w.stalled:
                        if w.queue:
                            events = list(w.queue)
                            w.queue.clear()
                            break
                        if deadline is not None and now >= deadline:
                            end = "timeout"
                            break
                        if bookmarks and (now >= last_bookmark + store.bookmark_interval or
                                          (pre_deadline is not None and last_bookmark < pre_deadline <= now)):
                            bookmark_rv = max(store.rv, w.after or 0)
                            last_bookmark = now
                            break
                    if now - last_alive >= 1.0:
                        if self.client_gone():
                            end = "gone"
                            break
                        last_alive = now
                    wake = [last_alive + 1.0]
                    if not w.stalled:
                        if deadline is not None:
                            wake.append(deadline)
                        if bookmarks:
                            wake.append(last_bookmark + store.bookmark_interval)
                            if pre_deadline is not None and last_bookmark < pre_deadline:
                                wake.append(pre_deadline)
                    cond.wait(max(0.0, min(wake) - now))
            if end == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)  # no final chunk: the client sees a cut stream
                except OSError:
                    pass
                return
            if end == "gone":
                self.close_connection = True
                return
            if end == "timeout":
                self.end_stream()
                return
            out = []
            if bookmark_rv is not None:
                out.append(dumps({"type": "BOOKMARK", "object": {
                    "kind": "Service", "apiVersion": "v1", "metadata": {"resourceVersion": str(bookmark_rv)},
                    "spec": {}, "status": {"loadBalancer": {}}}}))
            for event in events:
                if event[0] == "malformed":
                    out.append(MALFORMED_LINE[:-1].decode())
                    continue
                line = self.event_line(w, event, table_first)
                if line:
                    out.append(line)
                    table_first = False
            if out:
                self.chunk(("\n".join(out) + "\n").encode())

    def event_line(self, w, event, table_first):
        rv, kind, obj, prev, line = event
        if w.after is not None and rv <= w.after:
            return None
        now_match = w.matches(obj)
        was_match = prev is not None and w.matches(prev)
        if kind == "MODIFIED":
            if now_match and not was_match:
                kind = "ADDED"
            elif was_match and not now_match:
                kind = "DELETED"
            elif not now_match:
                return None
        elif kind == "DELETED":
            if not (was_match or now_match):
                return None
        elif not now_match:
            return None
        if self.wants_table():
            return dumps({"type": kind, "object": self.as_table([obj], str(rv), columns=table_first)})
        if kind == event[1]:
            return line
        return dumps({"type": kind, "object": objects.with_kind(obj)})
