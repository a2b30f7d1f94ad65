#!/usr/bin/env python3
"""A backend standing for a Service's pods: answers every GET with `NAME\n`.

  backend.py NAME ADDRESS PORT
Prints `ready` once listening.
"""
import http.server
import sys

name, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
body = (name + "\n").encode()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    request_queue_size = 128


server = Server((address, port), Handler)
print("ready", flush=True)
server.serve_forever()
