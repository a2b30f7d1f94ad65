#!/usr/bin/env bash
# Figures for "Convergence and footprint" in docs/benchmarks.md: ipsyncd's resident memory (VmRSS) and
# its peak (VmHWM) after simulated churn and its CPU time over idle seconds, beside `kubectl get svc --watch`
# doing the same watch of the same namespace at the same time. Ends with the peak gate: VmHWM over the
# daemon's whole life against the goal (16 MB with the three routed Services), PASS or FAIL.
# Usage: bench/footprint.sh   (env: CHURN=600 seconds of churn, IDLE=60 seconds idle, IPSYNCD=binary)
# Churn: one routed Service recreated with a new ClusterIP every 2 s (each one a check and a nginx
# reload), and 10 updates/s of 50 unrelated Services.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
churn=${CHURN:-600}
idle=${IDLE:-60}

build_ipsyncd
echo "$(machine) at the start"
start_apiserver
create_routed_services 127.0.0.11
apictl bulk --prefix other --count 50 >/dev/null
start_nginx
start_ipsyncd
start_kubectl_watch

sample() { # label
    echo "$1: ipsyncd VmRSS $(mib "$(rss_kib "$ipsyncd_pid")") VmHWM $(mib "$(hwm_kib "$ipsyncd_pid")"); " \
         "kubectl VmRSS $(mib "$(rss_kib "$kubectl_pid")") VmHWM $(mib "$(hwm_kib "$kubectl_pid")")"
}
sample "after start-up"
cpu0_d=$(cpu_seconds "$ipsyncd_pid"); cpu0_k=$(cpu_seconds "$kubectl_pid")
python3 "$lib/events.py" --control "$control" --duration "$churn" --rate 10 --prefix other --count 50 \
    --recreate-every 2 >"$work/churn.json" &
churner=$!
pids+=($churner)
for (( t = 60; t <= churn; t += 60 )); do
    sleep 60
    sample "churn ${t}s"
done
wait "$churner" || fail "the event generator failed"
sleep 3  # the last recreate's apply
echo "churn: $(cat "$work/churn.json"); ipsyncd reloads $(metric 'ipsyncd_reloads_total{result="ok"}') ok," \
     "$(metric 'ipsyncd_reloads_total{result="failed"}') failed; resyncs applied $(metric 'ipsyncd_resyncs_total{result="applied"}')"
echo "CPU during the churn: ipsyncd $(awk -v a="$cpu0_d" -v b="$(cpu_seconds "$ipsyncd_pid")" 'BEGIN { printf "%.2f s", b - a }')," \
     "kubectl $(awk -v a="$cpu0_k" -v b="$(cpu_seconds "$kubectl_pid")" 'BEGIN { printf "%.2f s", b - a }') over ${churn} s"
sample "after ${churn}s of churn"

cpu1_d=$(cpu_seconds "$ipsyncd_pid"); cpu1_k=$(cpu_seconds "$kubectl_pid")
sleep "$idle"
cpu2_d=$(cpu_seconds "$ipsyncd_pid"); cpu2_k=$(cpu_seconds "$kubectl_pid")
sample "after ${idle}s idle"
echo "ipsyncd: $(memory "$ipsyncd_pid"); kubectl: $(memory "$kubectl_pid")"
echo "ipsyncd's largest mappings (KiB resident):"
awk '/^[0-9a-f]+-/ { lib = $6 ? $6 : "[anonymous]" } /^Rss:/ { rss[lib] += $2 } END { for (l in rss) print rss[l], l }' \
    "/proc/$ipsyncd_pid/smaps" | sort -rn | head -12 | sed 's/^/    /'
awk -v a="$cpu1_d" -v b="$cpu2_d" -v c="$cpu1_k" -v d="$cpu2_k" -v s="$idle" \
    'BEGIN { printf "idle CPU (utime+stime) over %d s: ipsyncd %.2f s, kubectl %.2f s (clock tick 0.01 s)\n", s, b - a, d - c }'
grep -c . "$work/ipsyncd.log" | xargs echo "ipsyncd log lines:"
peak_gate "3 routed Services and 50 others, start-up and ${churn} s of churn included" "$ipsyncd_pid" "$peak_goal_routed"
echo "load average at the end: $(loadavg)"
