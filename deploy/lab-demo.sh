#!/usr/bin/env bash
# The lab demo: bring up a local 3-manager, 2-worker swarm, create two demo services with one replica
# each, let warden apply examples/lab.yml (which wants 3 and 2), then leave `warden run` serving
# http://127.0.0.1:9095/metrics. Try `docker service scale demo_web=1` in another shell: warden reverts it.
# Root on Linux; installs docker.io, busybox-static and docker-registry with apt-get when missing, and the
# nodes run the newest engine in Debian's archive (WARDEN_LAB_ENGINE=20.10, 26.1, 28.5 or system for another).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
warden=./bin/warden.js
"$warden" lab up
DOCKER_HOST=$("$warden" lab status | sed -n 's/^export DOCKER_HOST=//p')
export DOCKER_HOST
for svc in demo_web demo_api; do
  docker service inspect "$svc" >/dev/null 2>&1 ||
    docker service create --detach --quiet --name "$svc" --replicas 1 busybox:lab sleep 86400 >/dev/null
done
"$warden" plan -f examples/lab.yml || true
"$warden" apply -f examples/lab.yml
listen=${WARDEN_LISTEN:-:9095}
echo "warden run: metrics on http://127.0.0.1:${listen##*:}/metrics, status on /status; DOCKER_HOST=$DOCKER_HOST; Ctrl-C stops it"
exec "$warden" run -f examples/lab.yml --listen "$listen"
