#!/usr/bin/env bash
# When and where ipsyncd's peak resident memory (VmHWM) is made, for "What makes the peak" in
# docs/benchmarks.md: samples /proc/PID/status every ~1 ms from the exec on, copies smaps and the
# present pages of every file mapping each time the peak grows, and reports the peak's moment against
# the daemon's log, its mappings (file-backed against anonymous) and the binary's resident sections and
# modules. Then, with HEAPTRACK=1, the same run under heaptrack for the heap's peak and who allocates it.
# Usage: bench/memory/peak.sh   (env: IPSYNCD=binary, BULK=0 more Services (5000 for the scale case),
#                                RECREATES=5 recreates of a routed Service 2 s apart, HEAPTRACK=0|1,
#                                CA=file (certificate-authority: a path, as the test kubeconfig) or
#                                CA=data (certificate-authority-data inline, as most kubeconfigs))
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
bulk=${BULK:-0}
recreates=${RECREATES:-5}
build_ipsyncd
binary=$IPSYNCD

echo "$(machine) at the start; binary $(stat -c %s "$binary") bytes"
start_apiserver --history 100000
create_routed_services 127.0.0.11
apictl bulk --prefix other --count 50 >/dev/null
[ "$bulk" -gt 0 ] && apictl bulk --prefix bulk --count "$bulk" >/dev/null
start_nginx
if [ "${CA:-file}" = data ]; then
    # The same client certificate, with the CA inline (base64) instead of by path.
    python3 - "$KUBECONFIG" "$work/api/kubeconfig-cadata.yaml" <<'PY'
import base64, re, sys
text = open(sys.argv[1]).read()
path = re.search(r"certificate-authority: (\S+)", text).group(1)
data = base64.b64encode(open(path, "rb").read()).decode()
open(sys.argv[2], "w").write(text.replace("certificate-authority: " + path, "certificate-authority-data: " + data))
PY
    export KUBECONFIG="$work/api/kubeconfig-cadata.yaml"
fi

# run_daemon WRAPPER-BODY: ipsyncd started through a wrapper script; recreates; stopped.
run_daemon() {
    printf '#!/bin/sh\n%s\n' "$1" >"$work/wrapper"
    chmod +x "$work/wrapper"
    IPSYNCD="$work/wrapper" start_ipsyncd
    sleep 2
    for i in $(seq "$recreates"); do
        apictl recreate api-gateway --cluster-ip "127.0.0.$((30 + i))" >/dev/null
        sleep 2
    done
    stop_pid "$ipsyncd_pid"
}

# The sampler watches the wrapper's PID, which stays ipsyncd's after the exec.
run_daemon "python3 '$root/bench/memory/sampler.py' --pid \$\$ --out '$work/peak' --ready '$work/ready' &
while [ ! -e '$work/ready' ]; do sleep 0.01; done
exec '$binary' \"\$@\""
sleep 0.5
echo "ipsyncd run with 3 routed Services, $((50 + bulk)) others, $recreates recreates 2 s apart, CA ${CA:-file}"
echo
python3 "$root/bench/memory/peak_report.py" --dir "$work/peak" --binary "$binary" --log "$work/ipsyncd.log"

if [ "${HEAPTRACK:-0}" = 1 ]; then
    # heaptrack's own script keeps the program as a child it waits for (SIGTERM would not reach it):
    # preload its library directly, so the PID is ipsyncd's, and interpret its pipe as the script does.
    ht=/usr/lib/heaptrack
    mkfifo "$work/heaptrack.pipe"
    "$ht/libexec/heaptrack_interpret" <"$work/heaptrack.pipe" | gzip -c >"$work/heaptrack.gz" &
    interpreter=$!
    : >"$work/ipsyncd.log"
    run_daemon "LD_PRELOAD='$ht/libheaptrack_preload.so' DUMP_HEAPTRACK_OUTPUT='$work/heaptrack.pipe' exec '$binary' \"\$@\""
    wait "$interpreter"
    echo
    echo "heaptrack, the same run again:"
    heaptrack_print -f "$work/heaptrack.gz" --print-peaks 1 --print-allocators 0 --print-temporary 0 \
        --print-leaks 0 --peak-limit 10 --sub-peak-limit 3 2>/dev/null | sed -n '/^PEAK MEMORY CONSUMERS/,$p' | cut -c1-180 | head -150 || true
    heaptrack_print -f "$work/heaptrack.gz" --print-peaks 0 --print-allocators 0 --print-temporary 0 \
        --print-leaks 0 2>/dev/null | grep -E '^(total runtime|calls to allocation|peak heap memory|peak RSS)' || true
fi
echo "load average at the end: $(loadavg)"
