#!/usr/bin/env bash
# Where ipsyncd's resident memory (VmRSS, and its peak VmHWM) goes and how often it wakes up, for "Where the memory goes" in
# docs/benchmarks.md: VmRSS / RssAnon / RssFile, threads and the largest mappings idle, after 1,000
# watch events and after a LIST of 5,000 Services; wake-ups (context switches of all threads) and
# CPU time over an idle minute; `kubectl get svc --watch` of the same namespace for comparison.
# Usage: bench/memory/breakdown.sh   (env: IPSYNCD=binary, IDLE=60 seconds, EVENTS=1000, BULK=5000)
# Build the binary as shipped first: swift build -c release --static-swift-stdlib --product ipsyncd
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
idle=${IDLE:-60}
events=${EVENTS:-1000}
bulk=${BULK:-5000}
build_ipsyncd

# Context switches per thread ("TID COUNT" lines): each one is the thread going to sleep or being woken.
switches() {
    for task in /proc/"$1"/task/*; do
        awk -v t="${task##*/}" '/ctxt_switches/ { n += $2 } END { print t, n + 0 }' "$task/status" 2>/dev/null
    done
}
# woken BEFORE AFTER: context switches between the two snapshots (a thread that ended counts as far as it was seen).
woken() { awk 'NR == FNR { before[$1] = $2; next } { n += $2 - before[$1] } END { print n + 0 }' <(echo "$1") <(echo "$2"); }
report() { # label pid
    local pid=$2 threads
    threads=$(ls "/proc/$pid/task" | wc -l)
    echo "$1: $(memory "$pid"), $threads threads"
}
mappings() { # pid
    awk '/^[0-9a-f]+-/ { lib = $6 ? $6 : "[anonymous]"; sub(".*/", "", lib) } /^Rss:/ { rss[lib] += $2 }
         END { for (l in rss) if (rss[l] >= 256) print rss[l], l }' "/proc/$1/smaps" | sort -rn | head -8 |
        awk '{ printf "    %6.1f MiB %s\n", $1 / 1024, $2 }'
}

echo "$(machine); binary $(stat -c %s "$IPSYNCD") bytes"
start_apiserver
create_routed_services 127.0.0.11
apictl bulk --prefix other --count 50 >/dev/null
start_nginx
start_ipsyncd
start_kubectl_watch
report "idle after start-up" "$ipsyncd_pid"
report "beside it, kubectl get svc --watch" "$kubectl_pid"
mappings "$ipsyncd_pid"

s0=$(switches "$ipsyncd_pid"); c0=$(cpu_seconds "$ipsyncd_pid")
sleep "$idle"
s1=$(switches "$ipsyncd_pid"); c1=$(cpu_seconds "$ipsyncd_pid")
echo "idle ${idle} s: $(woken "$s0" "$s1") context switches (all threads), CPU $(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }') s"

python3 "$lib/events.py" --control "$control" --duration "$((events / 50))" --rate 50 --prefix other --count 50 >/dev/null
sleep 2
report "after $events update events" "$ipsyncd_pid"

# A LIST of $bulk Services: a second daemon started once they exist (its first sync lists them all).
stop_pid "$ipsyncd_pid"
apictl bulk --prefix bulk --count "$bulk" >/dev/null
start_ipsyncd
sleep 2
report "after a LIST of $bulk Services" "$ipsyncd_pid"
mappings "$ipsyncd_pid"
echo "load average at the end: $(loadavg)"
