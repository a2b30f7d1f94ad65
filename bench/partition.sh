#!/usr/bin/env bash
# Figures for the network-partition row of docs/reliability.md (issue 10 item 4) with the production
# defaults: watch_silence 60 s, the test API server's bookmark every 60 s, a 2-minute blackhole of the
# API path (the server in a network namespace of its own, iptables DROP), during which the server
# forgets the watch and api-gateway is recreated. Prints the time from the blackhole to the
# "watch lost" line and from the heal to nginx serving the new address. Needs root and `ip netns`;
# takes about 3 minutes. Not CI: CI runs the same test scaled down.
# Usage: bench/partition.sh   (run from the repository; builds the tests first)
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests >/dev/null
IPSYNCD_PARTITION_REAL=1 swift test --skip-build --filter FaultPartitionTests 2>&1 | grep -E '^partition \||✘|passed after|failed after'
