#!/usr/bin/env bash
# ipsyncd end to end, on one machine: a test Kubernetes API server, a real nginx on loopback and
# backends at 127.x addresses standing for ClusterIPs. api-gateway is recreated with a new ClusterIP
# and traffic through nginx follows it. Exits 0 only if every step happened; cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold='' plain=''; fi
say() { printf '\n%s== %s%s\n' "$bold" "$*" "$plain"; }
fail() { printf '\ndemo FAILED: %s\n' "$*" >&2; exit 1; }

# 1. What the demo needs (installed only when missing, and only as root).
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
[ -e /usr/include/curl/curl.h ] || [ -e /usr/include/x86_64-linux-gnu/curl/curl.h ] \
    || [ -e /usr/include/aarch64-linux-gnu/curl/curl.h ] || missing+=(libcurl4-openssl-dev)
for tool in openssl python3 curl; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || fail "missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root"
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH="$PATH:/usr/sbin:/sbin"

work=$(mktemp -d /tmp/ipsyncd-demo.XXXXXX)
pids=()
cleanup() {
    set +e
    [ -f "$work/nginx/nginx.pid" ] && nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -s stop 2>/dev/null
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "building ipsyncd"
swift build --product ipsyncd >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; fail "swift build failed"; }
tail -1 "$work/build.log"
ipsyncd="$(swift build --show-bin-path)/ipsyncd"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A backend answers every request with its own name, like a Service's pods would.
backend() { # name address port
    python3 - "$@" <<'PY' &
import http.server, sys
name, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{name} at {addr}:{port} got {self.path}\n".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer((addr, port), H).serve_forever()
PY
    pids+=($!)
}

say "starting the test Kubernetes API server (HTTPS, client certificates)"
mkdir -p "$work/api"
python3 Tests/Fixtures/apiserver/apiserver.py --dir "$work/api" --ignore-stdin \
    </dev/null >"$work/api/ready" 2>"$work/api/log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/api/ready" ] && break; sleep 0.1; done
[ -s "$work/api/ready" ] || fail "the API server did not start: $(cat "$work/api/log")"
control=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$work/api/ready")
apictl() { python3 Tests/Fixtures/apiserver/apictl.py --control "$control" "$@" >/dev/null; }
export KUBECONFIG="$work/api/kubeconfig-cert.yaml"

# The ClusterIPs: loopback addresses in a 127.0.N.0/24 of this run's own, so that two demos (or a
# benchmark) running at once never meet.
net="127.0.$((RANDOM % 250 + 1))"
say "Services in namespace flowmaster, and a backend behind each ClusterIP"
apictl create frontend-nextjs --cluster-ip $net.10 --port http:13000
apictl create api-gateway --cluster-ip $net.11 --port http:19000
apictl create websocket-gateway --cluster-ip $net.12 --port http:18080
backend frontend-nextjs $net.10 13000
backend "api-gateway (old)" $net.11 19000
backend websocket-gateway $net.12 18080
if command -v kubectl >/dev/null 2>&1; then KUBECACHEDIR="$work/kcache" kubectl get svc -n flowmaster || true; fi

say "nginx on loopback, with the flowmaster site rendered from templates/flowmaster.conf.tmpl"
port=$(free_port)
mkdir -p "$work/nginx/sites-available" "$work/nginx/sites-enabled" "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $work/nginx/tmp_body;
    proxy_temp_path $work/nginx/tmp_proxy;
    fastcgi_temp_path $work/nginx/tmp_fastcgi;
    uwsgi_temp_path $work/nginx/tmp_uwsgi;
    scgi_temp_path $work/nginx/tmp_scgi;
    include sites-enabled/*;
}
CONF
common=(--kubeconfig "$KUBECONFIG" --nginx-conf "$work/nginx/nginx.conf"
        --site "$work/nginx/sites-enabled/flowmaster" --state-dir "$work/state"
        --check-command "nginx -t -q -p $work/nginx -c {config}"
        --reload-command "nginx -p $work/nginx -c $work/nginx/nginx.conf -s reload")
"$ipsyncd" render "${common[@]}" --template templates/flowmaster.conf.tmpl --output - \
    | sed "s/listen 80;/listen 127.0.0.1:$port;/" >"$work/nginx/sites-available/flowmaster"
ln -s ../sites-available/flowmaster "$work/nginx/sites-enabled/flowmaster"
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf"
curl -fsS "http://127.0.0.1:$port/api/users" || fail "nginx does not reach api-gateway"

say "starting ipsyncd run"
"$ipsyncd" run "${common[@]}" --log-format text >"$work/ipsyncd.log" 2>&1 &
daemon=$!
pids+=($daemon)
for _ in $(seq 200); do grep -q "resync" "$work/ipsyncd.log" && break; sleep 0.1; done
grep -q "resync" "$work/ipsyncd.log" || { cat "$work/ipsyncd.log"; fail "ipsyncd did not start"; }
"$ipsyncd" status "${common[@]}" || true

say "recreating api-gateway: its ClusterIP changes from $net.11 to $net.21"
backend "api-gateway (new)" $net.21 19000
# The answer carries the moment the API server sent the ADDED event (time.time_ns()).
added=$(python3 Tests/Fixtures/apiserver/apictl.py --control "$control" recreate api-gateway \
    --cluster-ip $net.21 --gap-ms 200 | python3 -c 'import json,sys; print(json.load(sys.stdin)["emittedAtNs"])')
for _ in $(seq 200); do
    answer=$(curl -fsS "http://127.0.0.1:$port/api/users" 2>/dev/null || true)
    case "$answer" in *"(new)"*) break ;; esac
    sleep 0.05
done
case "$answer" in *"(new)"*) ;; *) cat "$work/ipsyncd.log"; fail "traffic did not follow the recreate" ;; esac
echo "through nginx: $answer"
echo "(traffic followed $(( ($(date +%s%N) - added) / 1000000 )) ms after the API server announced the new Service)"

say "what ipsyncd logged"
# nginx may serve the new address a moment before ipsyncd logs the confirmed reload.
for _ in $(seq 100); do grep -q "$net.11:19000 → $net.21:19000" "$work/ipsyncd.log" && break; sleep 0.05; done
cat "$work/ipsyncd.log"
grep -q "$net.11:19000 → $net.21:19000" "$work/ipsyncd.log" || fail "no journal line for the change"

say "what changed in the site file (last good copy → live)"
changed=0
diff -u "$work/state/last-good/flowmaster" "$work/nginx/sites-available/flowmaster" || changed=$?
[ "$changed" = 1 ] || fail "no last good copy, or the site file did not change"
[ -L "$work/nginx/sites-enabled/flowmaster" ] || fail "the site symlink was replaced"

say "ipsyncd status"
"$ipsyncd" status "${common[@]}" || fail "status is not in sync"

kill -TERM "$daemon"; wait "$daemon" || fail "ipsyncd did not exit 0 on SIGTERM"
say "demo passed"
