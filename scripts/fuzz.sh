#!/bin/sh
# Fuzzes a parser with libFuzzer: scripts/fuzz.sh nginxconf|watchevent [SECONDS]
# Compiles Fuzz/TARGET with the module's sources, under the module's own name, (swiftc -sanitize=fuzzer,address) into .build-fuzz/,
# seeds .build-fuzz/corpus-TARGET from Tests/Fixtures, and runs for SECONDS (default 60).
# Crash inputs land in .build-fuzz/crashes-TARGET/; keep each under Tests/Fixtures/fuzz/ with a test.
set -eu
cd "$(dirname "$0")/.."

target=${1:?usage: scripts/fuzz.sh nginxconf|watchevent [SECONDS]}
seconds=${2:-60}
out=.build-fuzz
corpus=$out/corpus-$target
crashes=$out/crashes-$target
mkdir -p "$corpus" "$crashes"

case $target in
nginxconf)
    module=NginxConf
    sources="Sources/NginxConf/*.swift"
    # Every site fixture, valid or not, and the template-free goldens.
    cp Tests/Fixtures/nginx/*.conf Tests/Fixtures/nginx/*.expected Tests/Fixtures/nginx/invalid/*.conf "$corpus"/
    ;;
watchevent)
    # The decoder needs only the model and the error type (no curl, no Yams).
    module=K8sWatch
    sources="Sources/K8sWatch/Model/*.swift Sources/K8sWatch/K8sError.swift"
    cp Tests/Fixtures/k8s/*.json "$corpus"/
    # Each line of the watch stream is one seed, as the watcher decodes it.
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        printf '%s' "$line" > "$corpus/watch-event-$n.json"
    done < Tests/Fixtures/k8s/watch-events.jsonl
    ;;
*)
    echo "unknown target '$target' (nginxconf, watchevent)" >&2
    exit 2
    ;;
esac
if [ -d "Tests/Fixtures/fuzz/$target" ]; then cp Tests/Fixtures/fuzz/"$target"/* "$corpus"/ 2>/dev/null || true; fi

binary=$out/fuzz-$target
# ld.gold warns about every ASan local symbol; those warnings are noise.
# shellcheck disable=SC2086
swiftc -O -sanitize=fuzzer,address -parse-as-library -module-name "$module" \
    Fuzz/"$target"/*.swift $sources -o "$binary" 2>&1 | grep -v "Cannot export local symbol" >&2 || true
[ -x "$binary" ] || { echo "build of $binary failed" >&2; exit 1; }

exec "$binary" -max_total_time="$seconds" -dict="$(ls Fuzz/"$target"/*.dict)" -print_final_stats=1 -artifact_prefix="$crashes/" \
    -max_len=65536 -timeout=10 -rss_limit_mb=2048 "$corpus"
