#!/usr/bin/env bash
# Figures for "Convergence and footprint" in docs/benchmarks.md: Service recreate → first request
# through a real nginx answered by the new backend, for ipsyncd, the floor (the same edit made
# directly), a kubectl --watch + sed loop and a polling job; then requests under steady load across
# recreates, with the old backend kept up and killed. Prints Markdown, with the load average of each phase.
# The convergence poller opens a new connection for every request (every 2 ms), so it sees the first
# answer of nginx's new workers; the load test keeps persistent connections, as real clients do.
# Usage: bench/convergence.sh   (env: COUNT=40 recreates, SETTLE=50ms, LOAD_COUNT=20, RATE=250 req/s,
#                                PHASES="floor ipsyncd load kubectl polljob" (add cron: a real once-a-minute
#                                job, CRON_COUNT=3 recreates), IPSYNCD=path to a built binary,
#                                POLLER=fresh|persistent, POLL_MS=2)
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
count=${COUNT:-40}
settle=${SETTLE:-50ms}
load_count=${LOAD_COUNT:-20}
rate=${RATE:-250}
phases=" ${PHASES:-floor ipsyncd load kubectl polljob} "
has() { [[ "$phases" == *" $1 "* ]]; }
settle_ms=$(python3 -c 'import re,sys; v,u=re.fullmatch(r"([\d.]+)(ms|s)",sys.argv[1]).groups(); print(float(v)*(1 if u=="ms" else 1000))' "$settle")

echo "$(machine) at the start"
start_apiserver
create_routed_services 127.0.0.21
start_nginx
converge() {
    python3 "$lib/converge.py" --control "$control" --nginx "127.0.0.1:$nginx_port" \
        --poller "${POLLER:-fresh}" --poll-ms "${POLL_MS:-2}" "$@"
}
out="$work/results"
mkdir -p "$out"

if has floor; then
note "floor: $count direct edits"
converge --mode direct --count "$count" --site "$site" --check-cmd "$nginx_check" --reload-cmd "$nginx_reload" \
    --out "$out/floor.json" --label floor
fi

reloads=none
if has ipsyncd || has load; then
    build_ipsyncd
    # Debug level: each apply logs its `resync.trace` line, the source of the phase table.
    start_ipsyncd --settle "$settle" --log-level debug
    if has ipsyncd; then
        note "ipsyncd run --settle $settle: $count recreates"
        converge --mode api --count "$count" --out "$out/ipsyncd.json" --label ipsyncd
    fi
    if has load; then
        note "ipsyncd under $rate req/s: $load_count recreates with the old backend kept, $load_count with it killed"
        converge --mode api --count "$load_count" --load "$rate" --out "$out/load-keep.json" --label load-keep
        converge --mode api --count "$load_count" --load "$rate" --kill-old --out "$out/load-kill.json" --label load-kill
    fi
    reloads=$(metric 'ipsyncd_reloads_total{result="ok"}')
    stop_pid "$ipsyncd_pid"
fi

if has kubectl; then
note "kubectl --watch loop: $count recreates"
setsid "$lib/kubectl_loop.sh" "$site" "$nginx_check" "$nginx_reload" >"$work/kubectl-loop.log" 2>&1 &
loop=$!
pids+=($loop)
sleep 3  # kubectl's start-up (discovery, first list) is not part of a recreate
converge --mode api --count "$count" --out "$out/kubectl.json" --label kubectl
kill -- -"$loop" 2>/dev/null || true
fi

if has polljob; then
job_count=$(( count < 10 ? count : 10 ))
note "polling job: $job_count runs, each started right at a recreate"
converge --mode api --count "$job_count" --hook "$lib/poll_job.sh '$site' '$nginx_check' '$nginx_reload'" \
    --out "$out/polljob.json" --label polljob
fi

if has cron; then
    note "a real once-a-minute job: ${CRON_COUNT:-3} recreates at random moments"
    setsid bash -c "while true; do '$lib/poll_job.sh' '$site' '$nginx_check' '$nginx_reload'; sleep 60; done" \
        >"$work/cron.log" 2>&1 &
    cron=$!
    pids+=($cron)
    converge --mode api --count "${CRON_COUNT:-3}" --timeout 75 --pause 0 --pause-random 60 \
        --out "$out/cron.json" --label cron
    kill -- -"$cron" 2>/dev/null || true
fi

echo "ipsyncd reloads: $reloads (confirmed); load average at the end: $(loadavg)"
echo
python3 "$lib/report.py" --settle-ms "$settle_ms" --trace-log "$work/ipsyncd.log" "$out"
