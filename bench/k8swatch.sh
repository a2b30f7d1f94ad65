#!/usr/bin/env bash
# Figures for the "K8sWatch" section of docs/benchmarks.md, against the test API server (started here):
# event → snapshot latency over plain HTTP and over HTTPS, and LIST + decode of 5,000 Services.
# Usage: bench/k8swatch.sh [updates] [services]
set -euo pipefail
cd "$(dirname "$0")/.."
updates="${1:-1000}"
services="${2:-5000}"

swift build -c release --product k8swatch-bench >&2
bench="$(swift build -c release --show-bin-path)/k8swatch-bench"
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# start NAME [--plain]: a fresh server in $work/NAME; its ready line goes to $work/NAME/ready.
start() {
    mkdir -p "$work/$1"
    python3 Tests/Fixtures/apiserver/apiserver.py --dir "$work/$1" --ignore-stdin "${@:2}" \
        >"$work/$1/ready" 2>"$work/$1/log" &
    pids+=($!)
    for _ in $(seq 300); do [ -s "$work/$1/ready" ] && return; sleep 0.1; done
    echo "test API server did not start:" >&2; cat "$work/$1/log" >&2; exit 1
}
control() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$work/$1/ready"; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -sr); $(swift --version 2>/dev/null | head -1)"
start plain --plain
"$bench" latency --kubeconfig "$work/plain/kubeconfig-token.yaml" --control "$(control plain)" --count "$updates"
"$bench" list --kubeconfig "$work/plain/kubeconfig-token.yaml" --control "$(control plain)" --count "$services"
start tls
"$bench" latency --kubeconfig "$work/tls/kubeconfig-cert.yaml" --control "$(control tls)" --count "$updates"
"$bench" list --kubeconfig "$work/tls/kubeconfig-cert.yaml" --control "$(control tls)" --count "$services"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
