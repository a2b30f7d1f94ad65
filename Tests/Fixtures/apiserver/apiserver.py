#!/usr/bin/env python3
"""A test Kubernetes API server for core/v1 Services (Python standard library only).

Serves discovery, list, get and watch of Services over HTTPS (client certificates or bearer tokens)
or plain HTTP, as kube-apiserver does for kubectl and client libraries, plus a plain-HTTP control
interface for tests (create/update/delete/recreate Services, inject faults, read stats).
Prints one JSON line when ready: {"url": ..., "control": ..., "dir": ...}.
Stops on SIGTERM/SIGINT or when stdin reaches EOF (unless --ignore-stdin).
"""

import argparse
import json
import os
import signal
import socket
import ssl
import sys
import threading
from http.server import ThreadingHTTPServer

import certs
import store as store_module
from api_handler import APIHandler
from control_handler import ControlHandler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address, handler, store, ssl_context=None):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.store = store
        self.ssl_context = ssl_context

    def get_request(self):
        request, address = super().get_request()
        # Every response and watch event is written at once; Nagle would hold it back behind a delayed ACK.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return request, address

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, in the connection's own thread, so a slow or failing
        # client never blocks the accept loop.
        conn = request
        if self.ssl_context is not None:
            request.settimeout(10)
            try:
                conn = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
            conn.settimeout(None)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            if conn is not request:
                conn.close()

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            super().handle_error(request, client_address)


def tls_context(directory):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(directory, "server.crt"), os.path.join(directory, "server.key"))
    ctx.load_verify_locations(os.path.join(directory, "ca.crt"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def host_url(scheme, host, port):
    return "%s://%s:%d" % (scheme, "[%s]" % host if ":" in host else host, port)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, help="where certificates, token and kubeconfigs are written")
    parser.add_argument("--plain", action="store_true", help="serve HTTP instead of HTTPS (token auth only)")
    parser.add_argument("--namespace", default="flowmaster")
    parser.add_argument("--host", default="127.0.0.1", help="API address (::1 for IPv6); control stays on 127.0.0.1")
    parser.add_argument("--control-host", default="127.0.0.1",
                        help="control address (the API's address when the server runs in a network namespace of its own)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--history", type=int, default=1000, help="events kept for watches from an old resourceVersion")
    parser.add_argument("--services", help="JSON file: a list of Services as the control API creates them")
    parser.add_argument("--pki-cache", help="make the certificates once into this directory and copy them from there")
    parser.add_argument("--ignore-stdin", action="store_true", help="do not stop at stdin EOF (background use)")
    args = parser.parse_args()
    # Pipe ends a parent leaked to us (test runners spawn many children at once) would keep other
    # processes from ever seeing EOF; this server needs none of them.
    os.closerange(3, 4096)

    directory = os.path.abspath(args.dir)
    token = certs.make_pki(directory, args.pki_cache)
    store = store_module.Store(args.namespace, args.history, [token])
    if args.services:
        with open(args.services) as f:
            for fields in json.load(f):
                store.create(fields)

    api = Server((args.host, args.port), APIHandler, store, None if args.plain else tls_context(directory))
    control = Server((args.control_host, args.control_port), ControlHandler, store)
    url = host_url("http" if args.plain else "https", args.host, api.server_address[1])
    certs.write_kubeconfigs(directory, url, args.namespace, token, args.plain)

    stop = threading.Event()
    for server in (api, control):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if not args.ignore_stdin:
        def watch_stdin():
            while sys.stdin.buffer.read1(4096):
                pass
            stop.set()
        threading.Thread(target=watch_stdin, daemon=True).start()

    sys.stdout.write(json.dumps({"url": url, "control": host_url("http", args.control_host, control.server_address[1]),
                                 "dir": directory}) + "\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        pass
    api.socket.close()
    control.socket.close()
    os._exit(0)  # open watches are daemon threads; no need to wait for them


if __name__ == "__main__":
    main()
