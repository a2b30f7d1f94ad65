#!/usr/bin/env python3
"""The site template on stdin filled with the test API server's addresses, to stdout.

  render_site.py --control URL --listen 127.0.0.1:PORT < templates/flowmaster.conf.tmpl
{{ name }} becomes CLUSTERIP:PORT (the Service's first port), `listen 80;` becomes `listen ADDR;`.
"""
import argparse
import json
import re
import sys
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--control", required=True)
parser.add_argument("--listen", required=True)
args = parser.parse_args()

opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
with opener.open(args.control.rstrip("/") + "/control/services", timeout=30) as response:
    items = json.load(response)["items"]
address = {s["metadata"]["name"]: "%s:%d" % (s["spec"]["clusterIP"], s["spec"]["ports"][0]["port"]) for s in items}


def fill(match):
    name = match.group(1)
    if name not in address:
        sys.exit("render_site: no Service %s" % name)
    return address[name]


text = re.sub(r"\{\{\s*([A-Za-z0-9-]+)\s*\}\}", fill, sys.stdin.read())
sys.stdout.write(text.replace("listen 80;", "listen %s;" % args.listen))
