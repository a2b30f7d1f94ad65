# Shared set-up for bench/convergence.sh, bench/footprint.sh and bench/scale.sh (sourced, not run):
# the release ipsyncd, the test Kubernetes API server, a real nginx on loopback with the flowmaster
# site, ipsyncd run, /proc readings, and clean-up of everything started here.
# shellcheck shell=bash

cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
root=$(pwd)
export PATH="$PATH:/usr/sbin:/sbin"
lib="$root/bench/lib"

work=$(mktemp -d /tmp/ipsyncd-bench.XXXXXX)
pids=()
cleanup() {
    set +e
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
    [ -f "$work/nginx/nginx.pid" ] && nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -s stop 2>/dev/null
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
    [ -n "${keep_work:-}" ] && { echo "work directory kept: $work" >&2; return; }
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "bench FAILED: $*" >&2; exit 1; }
note() { echo "# $*" >&2; }

# The release binary as scripts/install.sh builds it (the figures are for what operators install).
build_ipsyncd() {
    if [ -z "${IPSYNCD:-}" ]; then
        swift build -c release --static-swift-stdlib --product ipsyncd >&2 || fail "release build failed"
        IPSYNCD="$(swift build -c release --static-swift-stdlib --show-bin-path)/ipsyncd"
    fi
    [ -x "$IPSYNCD" ] || fail "no ipsyncd binary at $IPSYNCD"
}

machine() {
    echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
         "$(uname -sr), $(nginx -v 2>&1 | cut -d' ' -f3); load average $(cut -d' ' -f1-3 /proc/loadavg)"
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# start_apiserver [apiserver.py options]: HTTPS with client certificates; sets $control and $KUBECONFIG.
start_apiserver() {
    mkdir -p "$work/api"
    python3 Tests/Fixtures/apiserver/apiserver.py --dir "$work/api" --ignore-stdin "$@" \
        >"$work/api/ready" 2>"$work/api/log" &
    pids+=($!)
    apiserver_pid=$!
    for _ in $(seq 300); do [ -s "$work/api/ready" ] && break; sleep 0.1; done
    [ -s "$work/api/ready" ] || fail "the test API server did not start: $(cat "$work/api/log")"
    control=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$work/api/ready")
    export KUBECONFIG="$work/api/kubeconfig-cert.yaml" KUBECACHEDIR="$work/kcache"
}
apictl() { python3 Tests/Fixtures/apiserver/apictl.py --control "$control" "$@"; }

# The three routed Services; api-gateway at $1 (a 127.x address where a backend may listen).
create_routed_services() {
    apictl create frontend-nextjs --cluster-ip 127.0.0.10 --port http:13000 >/dev/null
    apictl create api-gateway --cluster-ip "${1:-127.0.0.21}" --port http:19000 >/dev/null
    apictl create websocket-gateway --cluster-ip 127.0.0.12 --port http:18080 >/dev/null
}

# start_nginx: nginx on 127.0.0.1:$nginx_port with templates/flowmaster.conf.tmpl filled with the
# Services' current addresses, in sites-available/ with a symlink in sites-enabled/ as on Debian.
start_nginx() {
    local n="$work/nginx"
    nginx_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    mkdir -p "$n/sites-available" "$n/sites-enabled" "$n/logs"
    cat >"$n/nginx.conf" <<CONF
$( [ "$(id -u)" = 0 ] && echo "user root;" )
worker_processes 1;
pid $n/nginx.pid;
error_log $n/logs/error.log;
events {}
http {
    access_log off;
    client_body_temp_path $n/tmp_body;
    proxy_temp_path $n/tmp_proxy;
    include sites-enabled/*;
}
CONF
    python3 "$lib/render_site.py" --control "$control" --listen "127.0.0.1:$nginx_port" \
        <templates/flowmaster.conf.tmpl >"$n/sites-available/flowmaster" || fail "cannot render the site"
    ln -s ../sites-available/flowmaster "$n/sites-enabled/flowmaster"
    site="$n/sites-available/flowmaster"
    nginx_check="nginx -t -q -p $n -c $n/nginx.conf"
    nginx_reload="nginx -p $n -c $n/nginx.conf -s reload"
    nginx -p "$n" -c "$n/nginx.conf" || fail "nginx did not start"
}

# start_ipsyncd [options]: `ipsyncd run` against the API server and nginx above; waits for its first
# resync (the metrics file appears) and sets $ipsyncd_pid. Its log is $work/ipsyncd.log.
# STATE_DIR=DIR puts the state directory elsewhere (a diagnostic: on tmpfs its fsyncs cost nothing).
start_ipsyncd() {
    rm -f "$work/metrics.prom"
    "$IPSYNCD" run --kubeconfig "$KUBECONFIG" --nginx-conf "$work/nginx/nginx.conf" \
        --site "$work/nginx/sites-enabled/flowmaster" --state-dir "${STATE_DIR:-$work/state}" \
        --check-command "nginx -t -q -p $work/nginx -c {config}" --reload-command "$nginx_reload" \
        --metrics-file "$work/metrics.prom" --log-format text "$@" >>"$work/ipsyncd.log" 2>&1 &
    ipsyncd_pid=$!
    pids+=($ipsyncd_pid)
    for _ in $(seq 300); do [ -s "$work/metrics.prom" ] && return; sleep 0.1; done
    cat "$work/ipsyncd.log" >&2
    fail "ipsyncd run did not finish its first resync"
}
# `kubectl get svc --watch` on the same namespace, the comparison for the footprint figures: sets kubectl_pid.
start_kubectl_watch() {
    kubectl get svc -n flowmaster --watch >/dev/null 2>"$work/kubectl.err" &
    kubectl_pid=$!
    pids+=($kubectl_pid)
    sleep 5
    [ -d "/proc/$kubectl_pid" ] || fail "kubectl --watch exited: $(cat "$work/kubectl.err")"
}

stop_pid() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }

# metric NAME{LABELS}: a sample from ipsyncd's metrics file.
metric() { awk -v k="$1" '$1 == k { print $2 }' "$work/metrics.prom"; }

# /proc readings: CPU seconds (utime + stime), VmRSS and VmHWM in KiB.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }
# memory PID: where the resident memory is (anonymous: the heap; file: mapped binaries and libraries,
# shared with other processes; Pss: this process's proportional share of everything), beside the peak
# (VmHWM: what a host must provision, what MemoryMax= and the OOM killer see).
memory() {
    echo "VmRSS $(mib "$(rss_kib "$1")") (peak VmHWM $(mib "$(hwm_kib "$1")")) = RssAnon $(mib "$(awk '/^RssAnon:/ { print $2 }' "/proc/$1/status")")" \
         "+ RssFile $(mib "$(awk '/^RssFile:/ { print $2 }' "/proc/$1/status")"), Pss $(mib "$(awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup")")"
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# The goals for the peak (issue 11), in bytes (MB = 10^6 bytes): VmHWM over the daemon's whole life,
# start-up included, with the three routed Services, and with 5,000 Services in the namespace.
peak_goal_routed=16000000
peak_goal_5000=24000000
# peak_gate LABEL PID GOAL_BYTES: PASS or FAIL of the process's VmHWM against the goal (a benchmark's
# verdict, printed; the script's exit status does not depend on it).
peak_gate() {
    awk -v label="$1" -v k="$(hwm_kib "$2")" -v goal="$3" 'BEGIN {
        b = k * 1024
        printf "peak gate (%s): VmHWM %.1f MiB = %.1f MB against the goal %.0f MB: %s", label, k / 1024, b / 1e6, goal / 1e6,
            b <= goal ? "PASS" : "FAIL"
        if (b <= goal) printf " (%.1f MB under it)\n", (goal - b) / 1e6
        else printf " (missed by %.1f MB, %.0f %%)\n", (b - goal) / 1e6, 100 * (b - goal) / goal
    }'
}
