#!/usr/bin/env bash
# A throwaway etcd cluster on 127.0.0.1 for the etcd torture profile and the
# etcd benchmarks (the tests start their own members): 3 members at free ports,
# their data on tmpfs (/dev/shm), in DIR.
#   Scripts/etcd-cluster.sh start DIR      starts it; prints the endpoints (comma-separated)
#   Scripts/etcd-cluster.sh chaos DIR S    every S seconds, SIGKILLs a random member and restarts it S/2 s later
#   Scripts/etcd-cluster.sh stop DIR       stops every member and removes DIR
# Needs etcd and etcdctl (apt-get install etcd-server etcd-client).
set -euo pipefail
command=${1:?usage: etcd-cluster.sh start|chaos|stop DIR [SECONDS]}
dir=${2:?usage: etcd-cluster.sh start|chaos|stop DIR [SECONDS]}

free_ports() {
  python3 - "$1" <<'PY'
import socket, sys
sockets = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); sockets.append(s)
print(" ".join(str(s.getsockname()[1]) for s in sockets))
PY
}

start_member() {
  local index=$1 state=$2
  # shellcheck disable=SC1090
  source "$dir/cluster.env"
  local client="http://127.0.0.1:${CLIENT_PORTS[$index]}" peer="http://127.0.0.1:${PEER_PORTS[$index]}"
  etcd --name "m$index" --data-dir "$dir/m$index" --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "$INITIAL_CLUSTER" \
    --initial-cluster-state "$state" --initial-cluster-token "$TOKEN" --logger zap --log-level warn \
    >>"$dir/m$index.log" 2>&1 &
  echo $! >"$dir/m$index.pid"
}

case $command in
start)
  mkdir -p "$dir"
  read -r -a ports <<<"$(free_ports 6)"
  {
    echo "CLIENT_PORTS=(${ports[0]} ${ports[2]} ${ports[4]})"
    echo "PEER_PORTS=(${ports[1]} ${ports[3]} ${ports[5]})"
    echo "INITIAL_CLUSTER=m0=http://127.0.0.1:${ports[1]},m1=http://127.0.0.1:${ports[3]},m2=http://127.0.0.1:${ports[5]}"
    echo "ENDPOINTS=http://127.0.0.1:${ports[0]},http://127.0.0.1:${ports[2]},http://127.0.0.1:${ports[4]}"
    echo "TOKEN=rvf-$$-$RANDOM"
  } >"$dir/cluster.env"
  for index in 0 1 2; do start_member "$index" new; done
  # shellcheck disable=SC1090
  source "$dir/cluster.env"
  for _ in $(seq 1 100); do
    if ETCDCTL_API=3 etcdctl --endpoints "$ENDPOINTS" --command-timeout 1s endpoint health >/dev/null 2>&1; then
      echo "$ENDPOINTS"
      exit 0
    fi
    sleep 0.2
  done
  echo "etcd-cluster.sh: the cluster in $dir did not become healthy; see $dir/m*.log" >&2
  exit 1
  ;;
chaos)
  period=${3:-10}
  while true; do
    sleep "$period"
    index=$((RANDOM % 3))
    kill -KILL "$(cat "$dir/m$index.pid")" 2>/dev/null || true
    echo "etcd-cluster.sh: killed member m$index ($(date -u +%T))" >>"$dir/chaos.log"
    sleep "$(awk "BEGIN { print $period / 2 }")"
    start_member "$index" existing
  done
  ;;
stop)
  for pidfile in "$dir"/m*.pid; do
    [ -e "$pidfile" ] && kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 0.2
  rm -rf "$dir"
  ;;
*)
  echo "usage: etcd-cluster.sh start|chaos|stop DIR [SECONDS]" >&2
  exit 64
  ;;
esac
