#!/usr/bin/env bash
# The extra servers the storage tests need besides the machine's Redis and
# PostgreSQL: a Redis Cluster of 3 masters and 3 replicas on 127.0.0.1:7100-7105
# and a PgBouncer in transaction mode on 127.0.0.1:6433 in front of the
# PostgreSQL at DATABASE_URL.
#
#   bash scripts/test-servers.sh start   # stops a stale run first, then starts both
#   bash scripts/test-servers.sh stop
#
# scripts/test.sh starts them and stops them when it exits. The tests read
# REDIS_CLUSTER_NODES and PGBOUNCER_URL (defaults: the addresses above).
# Everything lives in $MSAL_TEST_SERVERS_DIR (default /tmp/msal-rs-test-servers).
set -euo pipefail

dir="${MSAL_TEST_SERVERS_DIR:-/tmp/msal-rs-test-servers}"
cluster_ports=(7100 7101 7102 7103 7104 7105)
pgbouncer_port="${PGBOUNCER_PORT:-6433}"
database_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

log() { printf '==> %s\n' "$*" >&2; }

apt_install() {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Kills the process whose pid is in file $1 (if it is still running) and waits for it.
kill_pidfile() {
  local pidfile="$1" pid
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

stop_cluster() {
  local port
  for port in "${cluster_ports[@]}"; do
    kill_pidfile "$dir/redis-$port.pid"
    # A node of a stale run whose pid file is gone: ask it to stop.
    if port_busy "$port"; then
      redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    fi
  done
  for port in "${cluster_ports[@]}"; do
    for _ in $(seq 50); do port_busy "$port" || break; sleep 0.1; done
    if port_busy "$port"; then
      echo "port $port is in use by something that is not a Redis of this script; free it or change the ports" >&2
      return 1
    fi
  done
}

start_cluster() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    log "installing redis-server and redis-tools"
    apt_install redis-server redis-tools
  fi
  stop_cluster
  mkdir -p "$dir"
  local port nodes=()
  rm -f "$dir/dump.rdb"
  for port in "${cluster_ports[@]}"; do
    rm -f "$dir/nodes-$port.conf" "$dir/redis-$port.log" "$dir/dump-$port.rdb"
    # A config file per node, so that a test that kills a node can start it
    # again with the same settings (INFO server names the file).
    cat >"$dir/redis-$port.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/redis-$port.pid
logfile $dir/redis-$port.log
dir $dir
cluster-enabled yes
cluster-config-file nodes-$port.conf
dbfilename dump-$port.rdb
cluster-node-timeout 1000
cluster-replica-validity-factor 0
save ""
appendonly no
enable-debug-command local
EOF
    redis-server "$dir/redis-$port.conf"
    nodes+=("127.0.0.1:$port")
  done
  for port in "${cluster_ports[@]}"; do
    for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null || { echo "cluster node $port did not start" >&2; return 1; }
  done
  redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >"$dir/cluster-create.log" 2>&1 \
    || { cat "$dir/cluster-create.log" >&2; return 1; }
  wait_cluster_ok
  log "Redis Cluster up on 127.0.0.1:${cluster_ports[0]}-${cluster_ports[-1]} (3 masters, 3 replicas)"
}

wait_cluster_ok() {
  local port ok
  for _ in $(seq 200); do
    ok=1
    for port in "${cluster_ports[@]}"; do
      redis-cli -p "$port" cluster info 2>/dev/null | grep -q 'cluster_state:ok' || ok=0
    done
    # Every replica has finished its first sync.
    for port in "${cluster_ports[@]}"; do
      if redis-cli -p "$port" info replication 2>/dev/null | grep -q '^role:slave'; then
        redis-cli -p "$port" info replication | grep -q 'master_link_status:up' || ok=0
      fi
    done
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  echo "the Redis Cluster did not reach cluster_state:ok" >&2
  return 1
}

stop_pgbouncer() {
  kill_pidfile "$dir/pgbouncer.pid"
  if port_busy "$pgbouncer_port"; then
    # A stale PgBouncer whose pid file is gone.
    pkill -f -- "pgbouncer.*$dir/pgbouncer.ini" 2>/dev/null || true
    for _ in $(seq 50); do port_busy "$pgbouncer_port" || break; sleep 0.1; done
  fi
  if port_busy "$pgbouncer_port"; then
    echo "port $pgbouncer_port is in use by something that is not this script's PgBouncer" >&2
    return 1
  fi
}

start_pgbouncer() {
  if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
    log "installing pgbouncer"
    apt_install pgbouncer
  fi
  local bin
  bin="$(command -v pgbouncer || echo /usr/sbin/pgbouncer)"
  stop_pgbouncer
  mkdir -p "$dir"
  # host, port and database of DATABASE_URL (postgres://user@host:port/db).
  local rest host port db user
  rest="${database_url#*://}"
  user="${rest%%@*}"; user="${user%%:*}"
  rest="${rest#*@}"
  db="${rest#*/}"; db="${db%%\?*}"
  rest="${rest%%/*}"
  host="${rest%%:*}"; port="${rest##*:}"
  [ "$port" = "$rest" ] && port=5432
  cat >"$dir/pgbouncer.ini" <<EOF
[databases]
$db = host=$host port=$port dbname=$db user=$user

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $pgbouncer_port
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
pidfile = $dir/pgbouncer.pid
logfile = $dir/pgbouncer.log
EOF
  # PgBouncer refuses to run as root.
  local as=()
  if [ "$(id -u)" = 0 ]; then
    local runas=postgres
    id "$runas" >/dev/null 2>&1 || runas=nobody
    chmod 0777 "$dir"
    chmod 0644 "$dir/pgbouncer.ini"
    as=(-u "$runas")
  fi
  "$bin" -d "${as[@]}" "$dir/pgbouncer.ini"
  for _ in $(seq 100); do port_busy "$pgbouncer_port" && break; sleep 0.1; done
  port_busy "$pgbouncer_port" || { cat "$dir/pgbouncer.log" >&2 || true; echo "PgBouncer did not start" >&2; return 1; }
  log "PgBouncer (transaction pooling) up on 127.0.0.1:$pgbouncer_port in front of $host:$port/$db"
}

case "${1:-}" in
  start) start_cluster; start_pgbouncer ;;
  stop) stop_cluster || true; stop_pgbouncer || true ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
