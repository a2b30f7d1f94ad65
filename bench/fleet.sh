#!/usr/bin/env bash
# Fleet benchmark (issue 10 item 10; figures in docs/reliability.md): many edge hosts, each running
# ipsyncd against one API server, must not hammer it together when it comes back.
#
# Starts the test API server and FLEET (default 100) `ipsyncd run --dry-run` daemons, each with its own
# site copy, state directory and metrics file, all on loopback. Once every daemon has its watch open, the
# server is stopped for DOWN seconds (default 5) and started again on the same ports, its history
# compacted past every daemon's resourceVersion (each must relist, as after an etcd compaction). A
# sampler polls the server's counters every 100 ms. When every watch is open again, api-gateway is
# recreated at a new address; each daemon must then log the diff that names it.
# Prints the spread of the WATCHes and LISTs over time after the restart, LISTs per daemon, and
# convergence. Bounded: each wait gives up after a timeout. Everything started here is stopped.
#
#   bench/fleet.sh                      # release build (as scripts/install.sh builds it)
#   IPSYNCD=.build/debug/ipsyncd FLEET=20 DOWN=3 bench/fleet.sh
set -uo pipefail
# shellcheck source=bench/lib/common.sh
source "$(dirname "$0")/lib/common.sh"
fleet=${FLEET:-100}
down=${DOWN:-5}
build_ipsyncd
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
api_port=$(free_port)
control_port=$(free_port)
now() { date +%s.%N; }
stats() { python3 -c 'import json,sys,urllib.request; print(json.load(urllib.request.urlopen(sys.argv[1] + "/control/stats"))[sys.argv[2]])' "$control" "$1" 2>/dev/null || echo -1; }
wait_open() {  # wait_open N SECONDS: until N watches are open
    local deadline=$((SECONDS + $2))
    while [ "$(stats openWatches)" -lt "$1" ]; do
        [ $SECONDS -ge "$deadline" ] && return 1
        sleep 0.2
    done
}

note "$(machine)"
note "fleet of $fleet, API server down $down s"
start_apiserver --port "$api_port" --control-port "$control_port" --pki-cache "$work/pki"
create_routed_services 127.0.0.21
# A minimal nginx.conf: dry-run daemons never run the check or the reload.
mkdir -p "$work/nginx"
printf 'events {}\nhttp { include sites-enabled/*; }\n' >"$work/nginx/nginx.conf"
python3 "$lib/render_site.py" --control "$control" --listen "127.0.0.1:8" <templates/flowmaster.conf.tmpl >"$work/site" ||
    fail "cannot render the site"

daemon_pids=()
for i in $(seq "$fleet"); do
    d="$work/d$i"
    mkdir -p "$d"
    cp "$work/site" "$d/site"
    "$IPSYNCD" run --dry-run --kubeconfig "$KUBECONFIG" --nginx-conf "$work/nginx/nginx.conf" --site "$d/site" \
        --state-dir "$d/state" --metrics-file "$d/metrics.prom" --log-format text >"$d/log" 2>&1 &
    pids+=($!)
    daemon_pids+=($!)
done
wait_open "$fleet" 120 || fail "only $(stats openWatches) of $fleet watches opened within 120 s"
note "all $fleet watches open; load $(loadavg)"
sleep 3  # let every watch age past client-go's "very short watch"

python3 "$lib/fleet_sampler.py" "$control" "$work/stats.jsonl" &
sampler_pid=$!
pids+=($sampler_pid)
sleep 1
old_rv=$(stats resourceVersion)
stopped_at=$(now)
stop_pid "$apiserver_pid"
note "API server stopped at rv $old_rv"
sleep "$down"

# The new server: the same ports and CA, and more Services created at start-up than the history keeps,
# so that every daemon's resourceVersion is compacted away (410, relist).
pad=$((old_rv - 100 + 60))
python3 - "$work/services.json" "$pad" <<'PY'
import json, sys
routed = [("frontend-nextjs", "127.0.0.10", 13000), ("api-gateway", "127.0.0.21", 19000), ("websocket-gateway", "127.0.0.12", 18080)]
pads = [("pad-%d" % i, "10.96.%d.%d" % (i // 250, i % 250 + 1), 80) for i in range(int(sys.argv[2]))]
json.dump([{"name": n, "clusterIP": ip, "ports": [{"name": "http", "port": p}]} for n, ip, p in pads + routed], open(sys.argv[1], "w"))
PY
mkdir -p "$work/api2"
python3 Tests/Fixtures/apiserver/apiserver.py --dir "$work/api2" --ignore-stdin --port "$api_port" \
    --control-port "$control_port" --pki-cache "$work/pki" --history 20 --services "$work/services.json" \
    >"$work/api2/ready" 2>"$work/api2/log" &
pids+=($!)
apiserver_pid=$!
for _ in $(seq 300); do [ -s "$work/api2/ready" ] && break; sleep 0.1; done
[ -s "$work/api2/ready" ] || fail "the API server did not restart: $(cat "$work/api2/log")"
started_at=$(now)
note "API server back at rv $(stats resourceVersion) (history 20)"
wait_open "$fleet" 120 || note "only $(stats openWatches) of $fleet watches open again after 120 s"
note "$(stats openWatches) watches open again; load $(loadavg)"
sleep 2

new_ip=127.0.0.$((100 + RANDOM % 100))
recreated_at=$(now)
apictl recreate api-gateway --cluster-ip "$new_ip" --gap-ms 100 >/dev/null || fail "recreate failed"
deadline=$((SECONDS + 60))
while [ "$(grep -l -F "$new_ip" "$work"/d*/log 2>/dev/null | wc -l)" -lt "$fleet" ] && [ $SECONDS -lt "$deadline" ]; do sleep 0.2; done
sleep 1
stop_pid "$sampler_pid"
for pid in "${daemon_pids[@]}"; do kill "$pid" 2>/dev/null; done
for pid in "${daemon_pids[@]}"; do wait "$pid" 2>/dev/null; done
note "load $(loadavg)"
python3 "$lib/fleet_report.py" "$work" "$stopped_at" "$started_at" "$recreated_at" "$new_ip"
