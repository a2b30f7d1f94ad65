#!/usr/bin/env bash
# Figures for "Convergence and footprint" in docs/benchmarks.md: ipsyncd watching a namespace of
# 5,000 Services besides the routed ones, with 100 unrelated events per second: reloads (target 0),
# CPU (target < 10 % of one core), resident memory and its peak (VmHWM), with the peak gate (24 MB).
# Usage: bench/scale.sh   (env: SERVICES=5000, RATE=100 events/s, DURATION=300 seconds, IPSYNCD=binary)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
services=${SERVICES:-5000}
rate=${RATE:-100}
duration=${DURATION:-300}

build_ipsyncd
echo "$(machine) at the start"
start_apiserver --history 100000
create_routed_services 127.0.0.11
apictl bulk --prefix svc --count "$services" >/dev/null
start_nginx
started=$(date +%s%N)
start_ipsyncd
echo "ipsyncd's first resync over $((services + 3)) Services: $(( ($(date +%s%N) - started) / 1000000 )) ms after start" \
     "(metrics file written); VmRSS $(mib "$(rss_kib "$ipsyncd_pid")"), VmHWM $(mib "$(hwm_kib "$ipsyncd_pid")")"
sleep 2
reloads0=$(metric 'ipsyncd_reloads_total{result="ok"}')
failed0=$(metric 'ipsyncd_reloads_total{result="failed"}')
cpu0=$(cpu_seconds "$ipsyncd_pid")
t0=$(date +%s%N)
python3 "$lib/events.py" --control "$control" --duration "$duration" --rate "$rate" --prefix svc --count "$services" \
    >"$work/events.json" &
gen=$!
pids+=($gen)
peak=0
while [ -d "/proc/$gen" ]; do
    sleep 10
    rss=$(rss_kib "$ipsyncd_pid"); (( rss > peak )) && peak=$rss
done
wait "$gen" || fail "the event generator failed"
sleep 2
cpu1=$(cpu_seconds "$ipsyncd_pid")
wall=$(awk -v a="$t0" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
echo "events: $(cat "$work/events.json"); the API server: $(apictl stats | python3 -c 'import json,sys; s=json.load(sys.stdin); print("lists %s, watches %s, open watches %s" % (s["lists"], s["watches"], s["openWatches"]))')"
echo "reloads during the run: $(( $(metric 'ipsyncd_reloads_total{result="ok"}') - reloads0 )) ok," \
     "$(( $(metric 'ipsyncd_reloads_total{result="failed"}') - failed0 )) failed (target 0);" \
     "resyncs in total: $(grep '^ipsyncd_resyncs_total' "$work/metrics.prom" | sed 's/ipsyncd_resyncs_total//' | tr '\n' ' ')"
awk -v a="$cpu0" -v b="$cpu1" -v w="$wall" \
    'BEGIN { printf "ipsyncd CPU: %.2f s over %s s = %.2f %% of one core (target < 10 %%)\n", b - a, w, 100 * (b - a) / w }'
echo "ipsyncd memory: VmRSS $(mib "$(rss_kib "$ipsyncd_pid")") at the end, largest sample $(mib "$peak")," \
     "VmHWM $(mib "$(hwm_kib "$ipsyncd_pid")"); $(memory "$ipsyncd_pid")"
peak_gate "$services Services besides the routed ones, start-up included" "$ipsyncd_pid" "$peak_goal_5000"
echo "load average at the end: $(loadavg)"
