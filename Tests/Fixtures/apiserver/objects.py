"""Service objects, Status bodies, Tables and selectors, shaped as core/v1 and meta/v1 serve them."""

import datetime
import json
import time
import uuid


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def status(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


def _family(ip):
    return "IPv6" if ":" in ip else "IPv4"


def _port(p):
    port = {"name": p.get("name"), "protocol": p.get("protocol", "TCP"), "port": int(p["port"]),
            "targetPort": p.get("targetPort", int(p["port"]))}
    if port["name"] is None:
        del port["name"]
    if "nodePort" in p:
        port["nodePort"] = int(p["nodePort"])
    if "appProtocol" in p:
        port["appProtocol"] = p["appProtocol"]
    return port


def apply_spec(spec, fields):
    """Applies the control API's fields (clusterIP, clusterIPs, ports, type, externalName, selector,
    externalIPs) to a Service spec. Any clusterIP string is accepted, even an invalid one."""
    if "type" in fields:
        spec["type"] = fields["type"]
    if "ports" in fields:
        spec["ports"] = [_port(p) for p in fields["ports"]]
    if "selector" in fields:
        spec["selector"] = fields["selector"]
    if "externalIPs" in fields:
        spec["externalIPs"] = list(fields["externalIPs"])
    if "externalName" in fields:
        if fields["externalName"] is None:
            spec.pop("externalName", None)
        else:
            spec["externalName"] = fields["externalName"]
    if "clusterIP" in fields or "clusterIPs" in fields:
        ips = fields.get("clusterIPs")
        ip = fields.get("clusterIP")
        if ips is None:
            ips = [] if ip is None else [ip]
        if ip is None and ips:
            ip = ips[0]
        if ip is None:
            for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
                spec.pop(key, None)
        else:
            spec["clusterIP"] = ip
            spec["clusterIPs"] = ips
            families = [_family(x) for x in ips if x != "None"] or ["IPv4"]
            spec["ipFamilies"] = families
            spec["ipFamilyPolicy"] = "RequireDualStack" if len(families) > 1 else "SingleStack"
    if spec.get("type") == "ExternalName":
        for key in ("selector", "ipFamilies", "ipFamilyPolicy"):
            spec.pop(key, None)


def new_service(namespace, fields):
    """A full Service object (without resourceVersion, which the store sets) from the control API's fields."""
    name = fields["name"]
    kind = fields.get("type", "ClusterIP")
    spec = {"type": kind, "sessionAffinity": "None"}
    if kind != "ExternalName":
        spec["selector"] = {"app": name}
        spec["internalTrafficPolicy"] = "Cluster"
    defaults = {"ports": [] if kind == "ExternalName" else [{"name": "http", "port": 80}]}
    apply_spec(spec, dict(defaults, **fields))
    return {"metadata": {"name": name, "namespace": namespace, "uid": str(uuid.uuid4()),
                         "creationTimestamp": now_rfc3339(),
                         "labels": fields.get("labels", {"app": name})},
            "spec": spec, "status": {"loadBalancer": {}}}


def with_kind(obj):
    out = {"kind": "Service", "apiVersion": "v1"}
    out.update(obj)
    return out


# --- Tables (kubectl get) -------------------------------------------------------------------------

COLUMNS = [
    {"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0},
    {"name": "Type", "type": "string", "format": "", "description": "type determines how the Service is exposed.", "priority": 0},
    {"name": "Cluster-IP", "type": "string", "format": "", "description": "clusterIP is the IP address of the service.", "priority": 0},
    {"name": "External-IP", "type": "string", "format": "", "description": "externalIPs is a list of IP addresses.", "priority": 0},
    {"name": "Port(s)", "type": "string", "format": "", "description": "The list of ports that are exposed by this service.", "priority": 0},
    {"name": "Age", "type": "string", "format": "", "description": "CreationTimestamp is a timestamp representing the server time when this object was created.", "priority": 0},
    {"name": "Selector", "type": "string", "format": "", "description": "Route service traffic to pods with label keys and values matching this selector.", "priority": 1},
]


def human_duration(seconds):
    """Go's k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return "%ds" % seconds
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return "%dm" % minutes if s == 0 else "%dm%ds" % (minutes, s)
    if minutes < 180:
        return "%dm" % minutes
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return "%dh" % hours if m == 0 else "%dh%dm" % (hours, m)
    if hours < 48:
        return "%dh" % hours
    if hours < 192:
        h = hours % 24
        return "%dd" % (hours // 24) if h == 0 else "%dd%dh" % (hours // 24, h)
    if hours < 24 * 365 * 2:
        return "%dd" % (hours // 24)
    if hours < 24 * 365 * 8:
        d = (hours // 24) % 365
        return "%dy" % (hours // 24 // 365) if d == 0 else "%dy%dd" % (hours // 24 // 365, d)
    return "%dy" % (hours // 24 // 365)


def _age(created):
    then = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    return human_duration(int(time.time() - then.timestamp()))


def _external_ip(spec, status_):
    kind = spec.get("type", "ClusterIP")
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if kind == "LoadBalancer":
        ingress = [i.get("ip") or i.get("hostname") for i in status_.get("loadBalancer", {}).get("ingress", [])]
        ips = ingress + external
        return ",".join(ips) if ips else "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"


def _ports(spec):
    parts = []
    for p in spec.get("ports", []):
        if p.get("nodePort"):
            parts.append("%d:%d/%s" % (p["port"], p["nodePort"], p.get("protocol", "TCP")))
        else:
            parts.append("%d/%s" % (p["port"], p.get("protocol", "TCP")))
    return ",".join(parts) if parts else "<none>"


def row(obj, include_object):
    spec = obj["spec"]
    ips = spec.get("clusterIPs") or []
    selector = spec.get("selector") or {}
    cells = [obj["metadata"]["name"], spec.get("type", "ClusterIP"), ips[0] if ips else "<none>",
             _external_ip(spec, obj.get("status", {})), _ports(spec), _age(obj["metadata"]["creationTimestamp"]),
             ",".join("%s=%s" % kv for kv in sorted(selector.items())) if selector else "<none>"]
    out = {"cells": cells}
    if include_object == "Object":
        out["object"] = with_kind(obj)
    elif include_object != "None":
        meta = {k: v for k, v in obj["metadata"].items() if k != "managedFields"}
        out["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    return out


def table(objs, resource_version, include_object, columns=True, cont=None, remaining=None):
    meta = {"resourceVersion": resource_version}
    if cont:
        meta["continue"] = cont
        if remaining is not None:
            meta["remainingItemCount"] = remaining
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": COLUMNS if columns else [],
            "rows": [row(o, include_object) for o in objs]}


# --- Selectors ------------------------------------------------------------------------------------

class SelectorError(ValueError):
    pass


def _split_top(text):
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


def label_matcher(text):
    """`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`; requirements joined by commas."""
    tests = []
    for req in _split_top(text or ""):
        words = req.split()
        if len(words) >= 2 and words[1] in ("in", "notin"):
            values = {v.strip() for v in req.split("(", 1)[1].rstrip(")").split(",")}
            key, negate = words[0], words[1] == "notin"
            tests.append(lambda l, k=key, v=values, n=negate: (l.get(k) in v) != n if k in l else n)
        elif "!=" in req:
            key, value = [s.strip() for s in req.split("!=", 1)]
            tests.append(lambda l, k=key, v=value: l.get(k) != v)
        elif "=" in req:
            key, value = [s.strip() for s in req.replace("==", "=").split("=", 1)]
            tests.append(lambda l, k=key, v=value: l.get(k) == v)
        elif req.startswith("!"):
            tests.append(lambda l, k=req[1:].strip(): k not in l)
        else:
            tests.append(lambda l, k=req: k in l)
    return lambda obj: all(t(obj["metadata"].get("labels") or {}) for t in tests)


def field_matcher(text):
    """`metadata.name=x`, `metadata.namespace=x` (also `==` and `!=`), as the real server supports for Services."""
    tests = []
    for req in _split_top(text or ""):
        negate = "!=" in req
        key, value = [s.strip() for s in req.replace("!=", "=").replace("==", "=").split("=", 1)]
        if key not in ("metadata.name", "metadata.namespace"):
            raise SelectorError('"%s" is not a known field selector: only "metadata.name", "metadata.namespace"' % key)
        field = key.split(".")[1]
        tests.append(lambda o, f=field, v=value, n=negate: (o["metadata"][f] == v) != n)
    return lambda obj: all(t(obj) for t in tests)
