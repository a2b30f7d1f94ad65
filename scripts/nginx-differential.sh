#!/bin/sh
# The long differential run of NginxConf against real nginx -t (not in CI; minutes):
#   scripts/nginx-differential.sh [MUTANTS] [SEED...]
# Runs NginxDifferentialTests.parserAgreesWithNginxOnMutants with MUTANTS mutants (default 20000)
# for each SEED (default 1), and prints each run's figures: mutants tried, agreements and
# disagreements by class (0 disagreements expected). Needs nginx (Debian's nginx-light or larger).
set -eu
cd "$(dirname "$0")/.."

mutants=${1:-20000}
[ $# -gt 0 ] && shift
seeds=${*:-1}

swift build --build-tests >/dev/null
status=0
for seed in $seeds; do
    start=$(date +%s)
    NGINXCONF_DIFF_MUTANTS=$mutants NGINXCONF_DIFF_SEED=$seed \
        swift test --skip-build --filter NginxDifferentialTests.parserAgreesWithNginxOnMutants >.build/nginx-differential.log 2>&1 \
        || status=1
    grep -E "^nginx differential|^ +[^ ]+#[0-9]+ " .build/nginx-differential.log || true
    echo "seed $seed: $(( $(date +%s) - start )) s, $(grep -cE '✘' .build/nginx-differential.log || true) failure lines (log: .build/nginx-differential.log)"
done
exit $status
