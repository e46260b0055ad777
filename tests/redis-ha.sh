#!/usr/bin/env bash
# Sourced by tests/run.sh after tests/services.sh (uses its log, die, free_port, port_is_free and
# $TMP): starts, on free loopback ports in $TMP/redis-ha, from the same redis-server binary
#   * a Sentinel set-up: one master, one replica, one sentinel (quorum 1), master name
#     "huigong-test": exports HUIGONG_TEST_REDIS_SENTINEL_URL=redis+sentinel://127.0.0.1:PORT/huigong-test
#   * a 3-node Redis Cluster (three masters, no replicas; `redis-cli --cluster create`): exports
#     HUIGONG_TEST_REDIS_CLUSTER_URL=redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
# and stops them on exit (redis_ha_cleanup, called from the EXIT trap set below). A few seconds.
# shellcheck shell=bash

HA=$TMP/redis-ha
mkdir -p "$HA"

redis_ha_cleanup() {
  local pid
  for pidfile in "$HA"/*.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
  done
}
trap 'redis_ha_cleanup; cleanup' EXIT

# A port whose cluster bus port (+10000) is free too.
free_cluster_port() {
  local p
  for _ in $(seq 200); do
    # Below 22768: the node's cluster bus port (port + 10000) then stays under Linux's
    # ephemeral range (32768 and up), which the tests' own outgoing connections draw from.
    p=$(( (RANDOM % 2768) + 20000 ))
    if port_is_free "$p" && port_is_free $((p + 10000)); then echo "$p"; return 0; fi
  done
  die "no free loopback port pair for a cluster node"
}

wait_for() { # seconds, command…
  local tries=$(( $1 * 10 )); shift
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  return 1
}

redis_node() { # name port extra-args…
  local name=$1 port=$2; shift 2
  mkdir -p "$HA/$name"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$HA/$name" --pidfile "$HA/$name.pid" --logfile "$HA/$name.log" "$@" \
    || die "redis $name did not start"
  wait_for 5 redis-cli -p "$port" ping || { cat "$HA/$name.log"; die "redis $name does not answer"; }
}

log "starting Redis Sentinel (master, replica, sentinel)"
SENTINEL_MASTER_PORT=$(free_port)
redis_node sentinel-master "$SENTINEL_MASTER_PORT"
SENTINEL_REPLICA_PORT=$(free_port)
redis_node sentinel-replica "$SENTINEL_REPLICA_PORT" --replicaof 127.0.0.1 "$SENTINEL_MASTER_PORT"
SENTINEL_PORT=$(free_port)
mkdir -p "$HA/sentinel"
# Sentinel rewrites its configuration file: it must be its own, writable.
cat >"$HA/sentinel/sentinel.conf" <<EOF
port $SENTINEL_PORT
bind 127.0.0.1
daemonize yes
pidfile $HA/sentinel.pid
logfile $HA/sentinel.log
dir $HA/sentinel
sentinel monitor huigong-test 127.0.0.1 $SENTINEL_MASTER_PORT 1
sentinel down-after-milliseconds huigong-test 1000
sentinel failover-timeout huigong-test 10000
sentinel parallel-syncs huigong-test 1
EOF
redis-server "$HA/sentinel/sentinel.conf" --sentinel || die "redis sentinel did not start"
wait_for 5 redis-cli -p "$SENTINEL_PORT" ping || { cat "$HA/sentinel.log"; die "sentinel does not answer"; }
# The replica has synced and the sentinel knows it: only then can it fail over.
replica_known() {
  redis-cli -p "$SENTINEL_PORT" sentinel replicas huigong-test | grep -q "$SENTINEL_REPLICA_PORT" \
    && redis-cli -p "$SENTINEL_REPLICA_PORT" info replication | grep -q 'master_link_status:up'
}
wait_for 20 replica_known || { cat "$HA/sentinel.log"; die "the sentinel does not see the replica"; }
export HUIGONG_TEST_REDIS_SENTINEL_URL="redis+sentinel://127.0.0.1:$SENTINEL_PORT/huigong-test"

log "starting a 3-node Redis Cluster"
CLUSTER_NODES=()
for n in 1 2 3; do
  port=$(free_cluster_port)
  redis_node "cluster-$n" "$port" --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout 2000
  CLUSTER_NODES+=("127.0.0.1:$port")
done
redis-cli --cluster create "${CLUSTER_NODES[@]}" --cluster-yes >"$HA/cluster-create.log" 2>&1 \
  || { cat "$HA/cluster-create.log"; die "redis-cli --cluster create failed"; }
cluster_ok() {
  for node in "${CLUSTER_NODES[@]}"; do
    redis-cli -p "${node#*:}" cluster info | grep -q 'cluster_state:ok' || return 1
  done
}
wait_for 20 cluster_ok || die "the Redis Cluster did not become ok"
HUIGONG_TEST_REDIS_CLUSTER_URL="redis+cluster://$(IFS=,; echo "${CLUSTER_NODES[*]}")"
export HUIGONG_TEST_REDIS_CLUSTER_URL
