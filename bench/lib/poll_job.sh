#!/usr/bin/env bash
# The once-a-minute job an operator would otherwise put in cron: read api-gateway's ClusterIP, and
# when the site file has another one, rewrite it with sed, check it and reload nginx.
# Usage: poll_job.sh SITE CHECK-COMMAND RELOAD-COMMAND
site=$1 check=$2 reload=$3
ip=$(kubectl get svc -n flowmaster api-gateway -o jsonpath='{.spec.clusterIP}') || exit 1
grep -q "http://$ip:19000;" "$site" && exit 0
sed -i -E "s#(proxy_pass http://)[0-9.]+(:19000;)#\1$ip\2#" "$site" && eval "$check" && eval "$reload"
