"""The Service store: one resourceVersion counter, bounded event history, open watches, faults, stats."""

import collections
import threading
import time

import objects


def event_line(kind, text):
    """A watch event line for an object's JSON text, with kind and apiVersion put first."""
    return '{"type":"%s","object":{"kind":"Service","apiVersion":"v1",%s}' % (kind, text[1:])


class Conflict(Exception):
    pass


class NotFound(Exception):
    pass


class Watch:
    """One open watch. Its thread waits on the store's condition; the store fills `queue`."""

    def __init__(self, matches):
        self.matches = matches
        self.queue = collections.deque()   # history events, or ("malformed",)
        self.dropped = False
        self.stalled = False
        self.after = None                  # skip events at or below this rv (a watch from a future rv)


class Store:
    def __init__(self, namespace, history, tokens, start_rv=100):
        self.namespace = namespace
        self.started = objects.now_rfc3339()  # the namespace's creationTimestamp
        self.tokens = frozenset(tokens)     # replaced whole, so readers need no lock
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.rv = start_rv
        self.services = {}                 # name -> object without kind/apiVersion (never mutated once stored)
        self.texts = {}                    # name -> that object's JSON, encoded once for every list
        self.history = collections.deque()  # (rv, type, obj, prev_obj, plain event line), rv ascending
        self.history_limit = max(1, history)
        self.history_start = start_rv       # every event with rv > history_start is in `history`
        self.watches = set()
        self.bookmark_interval = 60.0
        self.faults = {"gone-event": 0, "gone-status": 0}
        self.status_faults = []             # dicts: code, retryAfter, verb, count
        self.list_faults = []               # dicts: kind ("drip", "html"), count, phase, intervalMs
        self.snapshots = collections.OrderedDict()   # continue-token id -> (rv, items)
        self.next_snapshot = 0
        self.stats = {"lists": 0, "watches": 0}
        self.requests = collections.deque(maxlen=200)

    # --- changes (caller holds no lock) ---------------------------------------------------------

    def _emit(self, kind, obj, prev):
        """Records an event under the lock and hands it to every open watch. Returns (rv, time_ns)."""
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        name = obj["metadata"]["name"]
        text = objects.dumps(obj)
        if kind == "DELETED":
            self.texts.pop(name, None)
        else:
            self.texts[name] = text
        event = (self.rv, kind, obj, prev, event_line(kind, text))
        self.history.append(event)
        while len(self.history) > self.history_limit:
            self.history_start = self.history.popleft()[0]
        for w in self.watches:
            w.queue.append(event)
        emitted = time.time_ns()
        self.cond.notify_all()
        return self.rv, emitted

    def create(self, fields):
        obj = objects.new_service(self.namespace, fields)
        with self.lock:
            if obj["metadata"]["name"] in self.services:
                raise Conflict('services "%s" already exists' % obj["metadata"]["name"])
            self.services[obj["metadata"]["name"]] = obj
            return self._emit("ADDED", obj, None)

    def update(self, name, fields):
        with self.lock:
            old = self.services.get(name)
            if old is None:
                raise NotFound('services "%s" not found' % name)
            new = {"metadata": dict(old["metadata"]), "spec": dict(old["spec"]), "status": old["status"]}
            if "labels" in fields:
                new["metadata"]["labels"] = fields["labels"]
            objects.apply_spec(new["spec"], fields)
            self.services[name] = new
            return self._emit("MODIFIED", new, old)

    def delete(self, name):
        with self.lock:
            old = self.services.pop(name, None)
            if old is None:
                raise NotFound('services "%s" not found' % name)
            gone = {"metadata": dict(old["metadata"]), "spec": old["spec"], "status": old["status"]}
            return self._emit("DELETED", gone, old)

    def recreate(self, name, fields, gap_ms):
        with self.lock:
            old = self.services.get(name)
            if old is None:
                raise NotFound('services "%s" not found' % name)
        self.delete(name)
        if gap_ms > 0:
            time.sleep(gap_ms / 1000.0)
        spec = old["spec"]
        base = {"name": name, "type": spec.get("type", "ClusterIP"), "ports": spec.get("ports", []),
                "labels": old["metadata"].get("labels", {})}
        if "selector" in spec:
            base["selector"] = spec["selector"]
        if "externalName" in spec:
            base["externalName"] = spec["externalName"]
        base.update(fields)
        return self.create(base)

    def bulk(self, prefix, count):
        result = (self.rv, time.time_ns())
        for i in range(count):
            name = "%s-%d" % (prefix, i)
            ip = "10.%d.%d.%d" % (100 + i // 65536, (i // 256) % 256, i % 256)
            try:
                result = self.create({"name": name, "clusterIP": ip,
                                      "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]})
            except Conflict:
                pass
        return result

    # --- faults ---------------------------------------------------------------------------------

    def fault(self, body):
        kind = body.get("kind")
        count = int(body.get("count", 1))
        with self.lock:
            if kind == "drop":
                for w in self.watches:
                    w.dropped = True
            elif kind in ("gone-event", "gone-status"):
                self.faults[kind] += count
            elif kind == "status":
                code = int(body.get("code", 500))
                if code not in (401, 403, 429, 500, 503):
                    raise ValueError("status fault code must be 401, 403, 429, 500 or 503, not %d" % code)
                verb = body.get("verb", "any")
                if verb not in ("list", "watch", "any"):
                    raise ValueError('status fault verb must be "list", "watch" or "any"')
                self.status_faults.append({"code": code, "retryAfter": body.get("retryAfter"),
                                           "verb": verb, "count": count})
            elif kind in ("drip", "html"):
                phase = body.get("phase", "body")
                if phase not in ("headers", "body"):
                    raise ValueError('drip phase must be "headers" or "body"')
                self.list_faults.append({"kind": kind, "count": count, "phase": phase,
                                         "intervalMs": int(body.get("intervalMs", 1000))})
            elif kind == "malformed":
                for w in self.watches:
                    w.queue.append(("malformed",))
            elif kind == "stall":
                for w in self.watches:
                    w.stalled = True
            elif kind == "unstall":
                for w in self.watches:
                    w.stalled = False
            elif kind == "compact":
                self.history.clear()
                self.history_start = self.rv
                self.snapshots.clear()
            elif kind == "clear":
                self.faults = {"gone-event": 0, "gone-status": 0}
                self.status_faults = []
                self.list_faults = []
            else:
                raise ValueError("unknown fault kind %r: drop, gone-event, gone-status, status, malformed, "
                                 "stall, unstall, compact, drip, html, clear" % kind)
            self.cond.notify_all()
            return self.rv, time.time_ns()

    def take_status_fault(self, verb):
        """The next injected Status fault for this verb, if any (consumes one of its count)."""
        with self.lock:
            for f in self.status_faults:
                if f["verb"] in (verb, "any"):
                    f["count"] -= 1
                    if f["count"] <= 0:
                        self.status_faults.remove(f)
                    return f
        return None

    def take_list_fault(self):
        """The next injected list fault (drip, html), if any (consumes one of its count)."""
        with self.lock:
            if not self.list_faults:
                return None
            f = self.list_faults[0]
            f["count"] -= 1
            if f["count"] <= 0:
                self.list_faults.pop(0)
            return f

    def take_fault(self, kind):
        with self.lock:
            if self.faults[kind] > 0:
                self.faults[kind] -= 1
                return True
        return False

    def set_bookmark_interval(self, ms):
        with self.lock:
            self.bookmark_interval = max(0.01, ms / 1000.0)
            self.cond.notify_all()
            return self.rv, time.time_ns()

    # --- reads ----------------------------------------------------------------------------------

    def list(self, matches):
        """(rv, items sorted by name) of the current state."""
        with self.lock:
            names = [n for n, o in sorted(self.services.items()) if matches(o)]
            return str(self.rv), [self.services[n] for n in names], [self.texts[n] for n in names]

    def save_snapshot(self, rv, items, texts):
        with self.lock:
            self.next_snapshot += 1
            self.snapshots[self.next_snapshot] = (rv, items, texts)
            while len(self.snapshots) > 32:
                self.snapshots.popitem(last=False)
            return self.next_snapshot

    def snapshot(self, ident):
        """A paged list's snapshot, or None once it expired (evicted or its rv compacted)."""
        with self.lock:
            found = self.snapshots.get(ident)
            if found is None or int(found[0]) < self.history_start:
                return None
            return found

    def expired(self, rv):
        with self.lock:
            return rv < self.history_start

    def open_watch(self, rv, matches):
        """Registers a watch. rv None: synthetic ADDED for everything now, then changes.
        Otherwise the kept events after rv, then changes; None when rv is older than the history."""
        with self.lock:
            w = Watch(matches)
            if rv is None:
                for name, obj in sorted(self.services.items()):
                    w.queue.append((int(obj["metadata"]["resourceVersion"]), "ADDED", obj, None,
                                    event_line("ADDED", self.texts[name])))
            else:
                if rv < self.history_start:
                    return None, str(self.history_start + 1)
                w.after = rv
                for event in self.history:
                    if event[0] > rv:
                        w.queue.append(event)
            self.watches.add(w)
            return w, None

    def close_watch(self, w):
        with self.lock:
            self.watches.discard(w)

    def record(self, line, verb=None):
        with self.lock:
            self.requests.append(line)
            if verb:
                self.stats[verb] += 1

    def stats_body(self):
        with self.lock:
            return {"lists": self.stats["lists"], "watches": self.stats["watches"],
                    "openWatches": len(self.watches), "resourceVersion": str(self.rv),
                    "requests": list(self.requests)}

    def reset_stats(self):
        with self.lock:
            self.stats = {"lists": 0, "watches": 0}
            self.requests.clear()
            return self.rv, time.time_ns()
