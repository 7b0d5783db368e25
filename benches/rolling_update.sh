#!/usr/bin/env bash
# Issue 5 benchmark: rolling update of 20 replicas with --update-parallelism 5
# --update-delay 0s --update-monitor 1s, shoal against Docker's own swarm mode on the same
# engine and image, in one run. Prints the seconds from `service update` to
# UpdateStatus=completed for each, and the ratio.
#
# Usage: benches/rolling_update.sh [path/to/shoal]
# Needs: docker (engine + CLI), the shoal-test/busybox image (tests make it). Docker's swarm
# mode is initialised on the local engine for the run and left again at the end, unless the
# engine was already a swarm member (then the Docker half is skipped).
set -euo pipefail

SHOAL=${1:-target/debug/shoal}
REPLICAS=20
BASE=shoal-test/busybox:latest
V1=shoal-test/upd:v1
V2=shoal-test/upd:v2
docker tag "$BASE" "$V1"
docker tag "$BASE" "$V2"

# Time of an update of service $2 through the docker CLI at DOCKER_HOST=$1.
measure() {
  local host=$1 name=$2
  DOCKER_HOST=$host docker service create -d --no-resolve-image --name "$name" \
    --replicas $REPLICAS --stop-signal KILL "$V1" sleep 3600 >/dev/null
  until [ "$(DOCKER_HOST=$host docker service ls --filter name="$name" --format '{{.Replicas}}')" = "$REPLICAS/$REPLICAS" ]; do
    sleep 0.2
  done
  local start end
  start=$(date +%s.%N)
  DOCKER_HOST=$host docker service update -d --no-resolve-image --image "$V2" \
    --update-parallelism 5 --update-delay 0s --update-monitor 1s "$name" >/dev/null
  until [ "$(DOCKER_HOST=$host docker service inspect --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$name")" = completed ]; do
    sleep 0.05
  done
  end=$(date +%s.%N)
  DOCKER_HOST=$host docker service rm "$name" >/dev/null
  echo "$end - $start" | bc
}

dir=$(mktemp -d)
"$SHOAL" daemon --data-root "$dir/data" --host "$dir/shoal.sock" >"$dir/daemon.log" 2>&1 &
shoal_pid=$!
cleanup() {
  kill "$shoal_pid" 2>/dev/null || true
  wait "$shoal_pid" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
until [ -S "$dir/shoal.sock" ]; do sleep 0.1; done
DOCKER_HOST=unix://$dir/shoal.sock docker swarm init >/dev/null
shoal_s=$(measure "unix://$dir/shoal.sock" bench-roll)
echo "shoal:        ${shoal_s}s"
# Containers of the removed service may still be stopping.
sleep 2

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != inactive ]; then
  echo "docker swarm: skipped (the engine is already in a swarm)"
  exit 0
fi
docker swarm init --advertise-addr 127.0.0.1:2477 --listen-addr 127.0.0.1:2477 >/dev/null
docker_s=$(measure "unix:///var/run/docker.sock" bench-roll)
docker swarm leave --force >/dev/null
echo "docker swarm: ${docker_s}s"
echo "ratio shoal/docker: $(echo "scale=2; $shoal_s / $docker_s" | bc)"
