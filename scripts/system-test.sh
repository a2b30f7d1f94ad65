#!/usr/bin/env bash
# The Debian package under a real systemd: boots systemd as PID 1 of a throwaway container (an overlay of this
# machine's own root, see scripts/lib/container.sh), with Debian's nginx.service serving the flowmaster site and
# the project's test Kubernetes API server as a transient unit inside. Installs dist/ipsyncd_*.deb with dpkg and
# checks, one named step each, with its evidence: READY gating, status, recreates followed through port 80, the
# journal fields, the watchdog, reload, stop during an apply, metrics, a clean journal, the security score, a
# second instance, a configuration error that stops the unit, an upgrade while running, and purge.
# Always tears the container down; on failure prints the container's journal. Root only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export PATH="$PATH:/usr/sbin:/sbin"
source scripts/lib/container.sh

[ "$(id -u)" = 0 ] || { echo "system-test: needs root (systemd-nspawn, mounts, cgroups)" >&2; exit 1; }
for tool in systemd-nspawn nsenter dpkg-deb python3 openssl curl; do
    command -v "$tool" >/dev/null || { echo "system-test: $tool is missing (apt-get install systemd-container)" >&2; exit 1; }
done
[ -x /usr/sbin/nginx ] || { echo "system-test: nginx is missing (apt-get install nginx-light)" >&2; exit 1; }

debs=(dist/ipsyncd_*.deb)
[ -e "${debs[0]}" ] || scripts/build-deb.sh
debs=(dist/ipsyncd_*.deb)
[ ${#debs[@]} = 1 ] || { echo "system-test: expected exactly one dist/ipsyncd_*.deb, found ${#debs[*]}" >&2; exit 1; }
deb=${debs[0]}

started=$SECONDS
step_no=0 current=''
step() { step_no=$((step_no + 1)); current=$*; printf '\n== step %d: %s  (t=%ds)\n' "$step_no" "$*" "$((SECONDS - started))"; }
evidence() { printf '   %s\n' "$@"; }
fail() { printf '\nsystem-test FAILED in step %d (%s): %s\n' "$step_no" "$current" "$*" >&2; exit 1; }

on_exit() {
    local status=$?
    set +e
    if [ "$status" != 0 ] && [ -n "$CT_PID1" ]; then
        echo "---- the container's journal (last 400 lines) ----"
        ct journalctl --no-pager -o short-monotonic -n 400 2>&1
        echo "---- end of the container's journal ----"
    fi
    ct_teardown
    rm -rf "$work"
    [ "$status" = 0 ] && printf '\nsystem-test passed in %d s\n' "$((SECONDS - started))"
}
work=$(mktemp -d /tmp/ipsyncd-system-test.XXXXXX)
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Inside: the test API server, a backend per Service port that answers with the address it was reached at
# (so a reply tells which ClusterIP nginx proxied to), and the flowmaster site at its first addresses.
net=127.0.$((RANDOM % 200 + 20))
step "prepare the container root (overlay of this machine's root, nothing downloaded)"
ct_prepare "ipsyncd-st-$(printf '%04x' $RANDOM)"
install -d "$CT_ROOT/opt/ipsyncd-test" "$CT_ROOT/srv/api" "$CT_ROOT/var/lib/prometheus/node-exporter"
cp -r Tests/Fixtures/apiserver "$CT_ROOT/opt/ipsyncd-test/apiserver"
rm -rf "$CT_ROOT/opt/ipsyncd-test/apiserver/__pycache__"
cp "$deb" "$CT_ROOT/opt/ipsyncd-test/ipsyncd.deb"
# The upgrade: the same package with a higher version (the maintainer scripts are what is tested).
dpkg-deb -R "$deb" "$work/upgrade"
sed -i 's/^Version: .*/&+systemtest1/' "$work/upgrade/DEBIAN/control"
dpkg-deb --root-owner-group -Znone -b "$work/upgrade" "$CT_ROOT/opt/ipsyncd-test/ipsyncd-upgrade.deb" >/dev/null
cat >"$CT_ROOT/opt/ipsyncd-test/backend.py" <<'PY'
import http.server, sys, threading
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        address, port = self.connection.getsockname()[:2]
        body = f"backend at {address}:{port} got {self.path}\n".encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args): pass
servers = [http.server.ThreadingHTTPServer(("0.0.0.0", int(port)), Handler) for port in sys.argv[1:]]
for server in servers[1:]: threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
PY
site() { # frontend api ws -> the flowmaster site from the template
    sed -e "s/{{ frontend-nextjs }}/$1:13000/" -e "s/{{ api-gateway }}/$2:19000/" -e "s/{{ websocket-gateway }}/$3:18080/" \
        templates/flowmaster.conf.tmpl
}
rm -f "$CT_ROOT/etc/nginx/sites-enabled/"*
site "$net.10" "$net.11" "$net.12" >"$CT_ROOT/etc/nginx/sites-available/flowmaster"
ln -s ../sites-available/flowmaster "$CT_ROOT/etc/nginx/sites-enabled/flowmaster"
# The second instance's site: another server on port 8081 whose / goes to api-gateway.
printf 'server {\n    listen 8081;\n    location / {\n        proxy_pass http://%s:19000;\n    }\n}\n' "$net.11" \
    >"$CT_ROOT/etc/nginx/sites-available/other"
ln -s ../sites-available/other "$CT_ROOT/etc/nginx/sites-enabled/other"
evidence "root $CT_ROOT; ClusterIPs in $net.0/24; package $(basename "$deb")"

step "boot systemd in the container"
ct_boot
evidence "PID 1: $(ct cat /proc/1/comm), $(ct systemctl --version | head -1)" "nginx: $(ct systemctl is-active nginx)"
[ "$(ct systemctl is-active nginx)" = active ] || ct systemctl start nginx

step "test API server and backends as transient units"
ct systemd-run --quiet --unit=st-apiserver -p StandardOutput=file:/srv/api/ready \
    /usr/bin/python3 /opt/ipsyncd-test/apiserver/apiserver.py --dir /srv/api --ignore-stdin
ct systemd-run --quiet --unit=st-backends /usr/bin/python3 /opt/ipsyncd-test/backend.py 13000 19000 18080
for _ in $(seq 100); do [ -s "$CT_ROOT/srv/api/ready" ] && break; sleep 0.1; done
[ -s "$CT_ROOT/srv/api/ready" ] || fail "the API server did not start: $(ct journalctl -u st-apiserver --no-pager | tail -5)"
control=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["control"])' "$CT_ROOT/srv/api/ready")
apictl() { ct /usr/bin/python3 /opt/ipsyncd-test/apiserver/apictl.py --control "$control" "$@"; }
apictl create frontend-nextjs --cluster-ip "$net.10" --port http:13000 >/dev/null
apictl create api-gateway --cluster-ip "$net.11" --port http:19000 >/dev/null
apictl create websocket-gateway --cluster-ip "$net.12" --port http:18080 >/dev/null
through() { ct curl -fsS --max-time 2 "http://127.0.0.1:${2:-80}$1" 2>/dev/null || true; }
# Until nginx serves $1 (a path) from $2 (an address), within 10 s.
await_backend() {
    local answer=''
    for _ in $(seq 200); do
        answer=$(through "$1" "${3:-80}")
        case "$answer" in *"at $2:"*) echo "$answer"; return 0 ;; esac
        sleep 0.05
    done
    echo "$answer"; return 1
}
evidence "API server $(cat "$CT_ROOT/srv/api/ready")" "through nginx: $(through /api/users)"

step "dpkg -i: a fresh install enables the unit but does not start it before the config names a kubeconfig"
out=$(ct dpkg -i /opt/ipsyncd-test/ipsyncd.deb 2>&1) || fail "dpkg -i failed: $out"
evidence "$(echo "$out" | grep -E 'Setting up|ipsyncd:')"
enabled=$(ct systemctl is-enabled ipsyncd || true) active=$(ct systemctl is-active ipsyncd || true)
evidence "is-enabled: $enabled, is-active: $active"
[ "$enabled" = enabled ] && [ "$active" = inactive ] || fail "expected enabled and inactive"
evidence "$(ct sh -c 'ls -l /usr/bin/ipsyncd /usr/lib/systemd/system/ipsyncd*.service /etc/ipsyncd/ipsyncd.yaml /usr/share/man/man1/ipsyncd.1.gz')"

step "configure and systemctl enable --now ipsyncd: active only after READY (after the first resync)"
cat >>"$CT_ROOT/etc/ipsyncd/ipsyncd.yaml" <<'EOF'

# Set by the system test:
kubeconfig: /srv/api/kubeconfig-cert.yaml
metrics_file: /var/lib/prometheus/node-exporter/ipsyncd.prom
EOF
# The watchdog step would wait 30 s with the shipped WatchdogSec: 6 s here (5 s or more on 2 loaded cores).
install -d "$CT_ROOT/etc/systemd/system/ipsyncd.service.d"
printf '[Service]\nWatchdogSec=6\n' >"$CT_ROOT/etc/systemd/system/ipsyncd.service.d/system-test.conf"
ct systemctl daemon-reload
ct systemctl enable --now ipsyncd 2>&1 | sed 's/^/   /'
active_at=$(ct systemctl show -P ActiveEnterTimestampMonotonic ipsyncd)
first_resync=$(ct journalctl -u ipsyncd -o json --no-pager | python3 -c '
import json, sys
for line in sys.stdin:
    entry = json.loads(line)
    if str(entry.get("MESSAGE", "")).startswith("resync"):
        print(entry["__MONOTONIC_TIMESTAMP"], entry["MESSAGE"]); break')
# READY carries the first resync's result as STATUS (the journal line may be written a moment after READY).
status_text=$(ct systemctl show -P StatusText ipsyncd)
evidence "StatusText sent with READY: $status_text" "first resync at monotonic ${first_resync:-none}" "active since monotonic $active_at"
[ -n "$first_resync" ] || fail "no resync logged"
case "$status_text" in ''|starting*) fail "active without a resync result" ;; esac

step "ipsyncd status"
status_out=$(ct ipsyncd status 2>&1) || fail "ipsyncd status exited non-zero: $status_out"
evidence "$status_out"

step "a recreate is followed through port 80"
apictl recreate api-gateway --cluster-ip "$net.21" --gap-ms 100 >/dev/null
answer=$(await_backend /api/users "$net.21") || fail "nginx did not follow the recreate: $answer"
evidence "through nginx: $answer"

step "journalctl -u ipsyncd IPSYNCD_SERVICE=api-gateway"
line=''
for _ in $(seq 40); do
    line=$(ct journalctl -u ipsyncd IPSYNCD_SERVICE=api-gateway --no-pager -o cat | grep -F "$net.11:19000 → $net.21:19000" || true)
    [ -n "$line" ] && break; sleep 0.1
done
[ -n "$line" ] || fail "no journal entry with IPSYNCD_SERVICE=api-gateway for the change"
evidence "$line" "$(ct journalctl -u ipsyncd IPSYNCD_SERVICE=api-gateway --no-pager -o verbose -n 1 | grep -E '^ +(IPSYNCD_|_SYSTEMD_UNIT|PRIORITY)')"

step "the watchdog restarts a stopped (SIGSTOP) daemon"
old_pid=$(ct systemctl show -P MainPID ipsyncd)
ct kill -STOP "$old_pid"
new_pid=$old_pid
for _ in $(seq 300); do
    new_pid=$(ct systemctl show -P MainPID ipsyncd)
    [ "$new_pid" != "$old_pid" ] && [ "$new_pid" != 0 ] && [ "$(ct systemctl is-active ipsyncd)" = active ] && break
    sleep 0.1
done
[ "$new_pid" != "$old_pid" ] || fail "not restarted within 30 s"
evidence "$(ct journalctl -u ipsyncd --no-pager -o cat | grep -E 'Watchdog timeout|watchdog' | tail -2)" \
    "main pid $old_pid -> $new_pid, $(ct systemctl is-active ipsyncd)"

step "systemctl reload ipsyncd (SIGHUP reloads the config, same process)"
ct systemctl reload ipsyncd
reloaded=''
for _ in $(seq 50); do
    reloaded=$(ct journalctl -u ipsyncd --no-pager -o cat | grep 'SIGHUP: config reloaded' | tail -1)
    [ -n "$reloaded" ] && break; sleep 0.1
done
[ -n "$reloaded" ] && [ "$(ct systemctl show -P MainPID ipsyncd)" = "$new_pid" ] || fail "no reload logged, or a new process"
evidence "$reloaded" "main pid still $new_pid"

step "stop during an apply, 5 times: the apply finishes, no child killed, stop under 2 s, nginx on the latest address"
# A check that takes 0.4 s more makes the window wide enough to stop in reliably (the old unit's KillMode
# would have sent SIGTERM to this very check).
printf 'check_command: sleep 0.4; nginx -t -c {config}\n' >>"$CT_ROOT/etc/ipsyncd/ipsyncd.yaml"
ct systemctl restart ipsyncd
# Milliseconds from systemd's "Stopping" to ipsyncd's resync line for $1, in the journal after cursor $2.
stop_before_apply_end() {
    ct journalctl -u ipsyncd --after-cursor "$2" -o json --no-pager | python3 -c '
import json, sys
stopping = applied = None
for line in sys.stdin:
    entry = json.loads(line)
    message, at = str(entry.get("MESSAGE", "")), int(entry["__MONOTONIC_TIMESTAMP"])
    if stopping is None and message.startswith("Stopping ipsyncd.service"): stopping = at
    if applied is None and message.startswith("resync") and sys.argv[1] in message: applied = at
print("none" if stopping is None or applied is None else (applied - stopping) // 1000)' "→ $1:19000"
}
for round in 1 2 3 4 5; do
    address=$net.$((30 + round))
    # The cursor is taken with the filter it is read with (journalctl 252 skips an entry otherwise).
    cursor=$(ct journalctl -u ipsyncd -n 1 --show-cursor --no-pager -o cat | sed -n 's/^-- cursor: //p')
    apictl recreate api-gateway --cluster-ip "$address" --gap-ms 0 >/dev/null
    # 45-95 ms after the recreate: inside the settle, the check or the reload.
    sleep "0.0$((45 + RANDOM % 50))"
    before=$(date +%s%N)
    ct systemctl stop ipsyncd
    took=$(( ($(date +%s%N) - before) / 1000000 ))
    log=$(ct journalctl -u ipsyncd --after-cursor "$cursor" --no-pager -o cat)
    in_flight=$(stop_before_apply_end "$address" "$cursor")
    applied=$(echo "$log" | grep -F "→ $address:19000" | head -1 || true)
    bad=$(echo "$log" | grep -Ei 'exit 143|reload command failed|did not finish within|Killing process|SIGKILL' || true)
    pending=$(ct sh -c 'ls /var/lib/ipsyncd/pending-reload 2>/dev/null' || true)
    # Six starts within 10 s would hit the unit's start rate limit (StartLimitBurst=5): not what is tested here.
    ct systemctl reset-failed ipsyncd
    ct systemctl start ipsyncd
    answer=$(await_backend /api/users "$address") || fail "round $round: nginx not on $address after the next start: $answer"
    evidence "round $round: stop took $took ms; the apply finished $in_flight ms after systemd's Stopping: ${applied:-none}" \
        "         after the next start, nginx: $answer"
    case "$in_flight" in none|-*) fail "round $round: the stop did not come during the apply" ;; esac
    [ -z "$bad" ] || fail "round $round: $bad"
    [ -z "$pending" ] || fail "round $round: pending-reload left behind"
    [ "$took" -lt 2000 ] || fail "round $round: stop took $took ms"
done

step "the metrics file is written where Debian's node-exporter reads it"
metrics=/var/lib/prometheus/node-exporter/ipsyncd.prom
ct test -s "$metrics" || fail "no $metrics"
evidence "$(ct ls -l "$metrics")" "$(ct grep -E '^ipsyncd_(resyncs_total|route_in_sync)' "$metrics" | head -4)"

step "a second instance ipsyncd@other beside the first"
cat >"$CT_ROOT/etc/ipsyncd/other.yaml" <<'EOF'
kubeconfig: /srv/api/kubeconfig-cert.yaml
site: /etc/nginx/sites-enabled/other
routes:
  - location: /
    service: api-gateway
metrics_file: /var/lib/prometheus/node-exporter/ipsyncd-other.prom
EOF
ct systemctl start ipsyncd@other
evidence "ipsyncd: $(ct systemctl is-active ipsyncd), ipsyncd@other: $(ct systemctl is-active ipsyncd@other)"
answer=$(await_backend / "$net.35" 8081) || fail "the other site did not follow: $answer"
evidence "port 8081 (other) after its first resync: $answer"
apictl recreate api-gateway --cluster-ip "$net.40" --gap-ms 50 >/dev/null
a=$(await_backend /api/users "$net.40") || fail "flowmaster did not follow: $a"
b=$(await_backend / "$net.40" 8081) || fail "other did not follow: $b"
evidence "after a recreate: port 80: $a" "                   port 8081: $b"
evidence "$(ct sh -c 'ls -d /var/lib/ipsyncd/other /var/lib/ipsyncd/other/* /var/lib/prometheus/node-exporter/*')"
ct ipsyncd status --config /etc/ipsyncd/other.yaml --state-dir /var/lib/ipsyncd/other >/dev/null || fail "status of other"

step "a configuration error stops the unit (exit 78) instead of restarting it for ever"
printf 'kubeconfig: /etc/ipsyncd/no-such-kubeconfig\nsite: /etc/nginx/sites-enabled/other\n' >"$CT_ROOT/etc/ipsyncd/broken.yaml"
ct systemctl start ipsyncd@broken 2>/dev/null && fail "ipsyncd@broken started"
sleep 3 # Restart=on-failure would have restarted it after RestartSec=2
props=$(ct systemctl show -p ActiveState -p Result -p ExecMainStatus -p NRestarts ipsyncd@broken | tr '\n' ' ')
evidence "$props" "$(ct journalctl -u ipsyncd@broken --no-pager -o cat | grep -E 'cannot start|status=78' | head -2)"
echo "$props" | grep -q 'ExecMainStatus=78' && echo "$props" | grep -q 'NRestarts=0' \
    && echo "$props" | grep -q 'ActiveState=failed' || fail "expected failed, status 78, no restart"
ct systemctl reset-failed ipsyncd@broken

step "no EPERM/EACCES/read-only or thread-priority lines in the journal"
noise=$(ct journalctl -u ipsyncd -u 'ipsyncd@*' --no-pager -o cat \
    | grep -Ei 'EPERM|EACCES|errno=|permission denied|operation not permitted|read-only file system|thread priority' || true)
[ -z "$noise" ] || fail "$noise"
evidence "$(ct journalctl -u ipsyncd -u 'ipsyncd@*' --no-pager -o cat | wc -l) lines, none of them"

step "systemd-analyze security ipsyncd <= 3.0 on the real unit"
score=$(ct systemd-analyze security ipsyncd --no-pager 2>&1 | sed -n 's/.*Overall exposure level for ipsyncd.service: \([0-9.]*\).*/\1/p')
evidence "exposure $score"
python3 -c "import sys; sys.exit(0 if float('${score:-99}') <= 3.0 else 1)" || fail "exposure ${score:-unknown} > 3.0"

step "a package upgrade while running restarts the daemon and keeps the edited conffile"
config_sum=$(md5sum <"$CT_ROOT/etc/ipsyncd/ipsyncd.yaml")
pid_before=$(ct systemctl show -P MainPID ipsyncd) other_before=$(ct systemctl show -P MainPID ipsyncd@other)
out=$(ct dpkg -i /opt/ipsyncd-test/ipsyncd-upgrade.deb 2>&1) || fail "upgrade failed: $out"
pid_after=$(ct systemctl show -P MainPID ipsyncd) other_after=$(ct systemctl show -P MainPID ipsyncd@other)
evidence "$(echo "$out" | grep -E 'Unpacking|Setting up')" "ipsyncd: pid $pid_before -> $pid_after ($(ct systemctl is-active ipsyncd))" \
    "ipsyncd@other: pid $other_before -> $other_after ($(ct systemctl is-active ipsyncd@other))"
[ "$pid_after" != "$pid_before" ] && [ "$pid_after" != 0 ] || fail "not restarted"
[ "$(ct systemctl is-active ipsyncd)" = active ] || fail "not active after the upgrade"
[ "$(md5sum <"$CT_ROOT/etc/ipsyncd/ipsyncd.yaml")" = "$config_sum" ] || fail "the edited conffile changed"
evidence "conffile unchanged ($config_sum)" "version $(ct dpkg-query -W -f='${Version}' ipsyncd)"

step "purge removes the package, stops the daemons and removes the state, never nginx's files"
site_before=$(md5sum <"$CT_ROOT/etc/nginx/sites-available/flowmaster")
rm -f "$CT_ROOT/etc/ipsyncd/other.yaml" "$CT_ROOT/etc/ipsyncd/broken.yaml"
out=$(ct dpkg --purge ipsyncd 2>&1) || fail "purge failed: $out"
left=$(ct sh -c 'pgrep -x ipsyncd; ls -d /var/lib/ipsyncd /etc/ipsyncd /usr/bin/ipsyncd 2>/dev/null' || true)
[ -z "$left" ] || fail "left behind: $left"
ct test -L /etc/nginx/sites-enabled/flowmaster && ct test -f /etc/nginx/sites-available/flowmaster || fail "nginx's site files are gone"
[ "$(md5sum <"$CT_ROOT/etc/nginx/sites-available/flowmaster")" = "$site_before" ] || fail "the site file changed on purge"
answer=$(through /api/users)
case "$answer" in *"at $net.40:"*) ;; *) fail "nginx no longer serves the last address: $answer" ;; esac
evidence "$(echo "$out" | grep -E 'Removing|Purging')" "no ipsyncd process, no /var/lib/ipsyncd, no /etc/ipsyncd" \
    "nginx: $(ct systemctl is-active nginx), site file kept, through nginx: $answer"

step "tear down"
name=$CT_NAME
ct_teardown || fail "the container left something behind"
evidence "no process, mount or cgroup of $name left"
