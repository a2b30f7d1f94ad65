#!/usr/bin/env bash
# What an operator would otherwise write: follow api-gateway with `kubectl get --watch`, and on a new
# ClusterIP rewrite the site file with sed, check it and reload nginx.
# Usage: kubectl_loop.sh SITE CHECK-COMMAND RELOAD-COMMAND
site=$1 check=$2 reload=$3
kubectl get svc -n flowmaster api-gateway --watch -o jsonpath='{.spec.clusterIP}{"\n"}' |
while read -r ip; do
    grep -q "http://$ip:19000;" "$site" && continue
    sed -i -E "s#(proxy_pass http://)[0-9.]+(:19000;)#\1$ip\2#" "$site" && eval "$check" && eval "$reload"
done
