#!/usr/bin/env bash
# Starts, stops and reports the local services that the tests, the demo and the benchmarks use:
# RabbitMQ (AMQP + management plugin) and the moto AWS API emulator, both bound to loopback only.
#
#   scripts/services.sh start    start whatever is not already answering (idempotent)
#   scripts/services.sh stop [rabbitmq|moto]   stop what this script started (pid files under .services/)
#   scripts/services.sh status   print what answers
#   scripts/services.sh env      print the variables that point clients at the services
#
# Ports can be moved with OQE_AMQP_PORT, OQE_MGMT_PORT, OQE_DIST_PORT, OQE_MOTO_PORT; a second RabbitMQ also
# needs OQE_SERVICES_DIR (its state) and OQE_RABBIT_NODENAME (e.g. oqe-private@localhost).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${OQE_SERVICES_DIR:-$ROOT/.services}"
AMQP_PORT="${OQE_AMQP_PORT:-5672}"
MGMT_PORT="${OQE_MGMT_PORT:-15672}"
DIST_PORT="${OQE_DIST_PORT:-25672}"
MOTO_PORT="${OQE_MOTO_PORT:-5055}"
# Test-only administrator, reachable from loopback only. The provisioning under test removes `guest`,
# so the tests need an administrator of their own.
ADMIN_USER="oqe-test-admin"
ADMIN_PASS="${OQE_TEST_ADMIN_PASSWORD:-oqe-test-admin-loopback}"
RABBIT_BIN=/usr/lib/rabbitmq/bin
VENV="$ROOT/.venv"

mkdir -p "$STATE"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() { # port seconds
  local i
  for ((i = 0; i < $2 * 4; i++)); do
    port_open "$1" && return 0
    sleep 0.25
  done
  return 1
}

rabbit_env() {
  export HOME="$STATE/rabbitmq" # the Erlang cookie lives here, shared by server and rabbitmqctl
  # A second, private broker (OQE_SERVICES_DIR and ports moved) needs a node name of its own.
  export RABBITMQ_NODENAME="${OQE_RABBIT_NODENAME:-oqe-test@localhost}"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$AMQP_PORT"
  export RABBITMQ_DIST_PORT="$DIST_PORT"
  export ERL_EPMD_ADDRESS=127.0.0.1
  # Keep Erlang distribution on loopback too (it listens on every interface by default).
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_MNESIA_BASE="$STATE/rabbitmq/mnesia"
  export RABBITMQ_LOG_BASE="$STATE/rabbitmq/log"
  export RABBITMQ_CONFIG_FILE="$STATE/rabbitmq/rabbitmq.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$STATE/rabbitmq/enabled_plugins"
  export RABBITMQ_PID_FILE="$STATE/rabbitmq/pid"
}

start_rabbitmq() {
  if port_open "$AMQP_PORT" && port_open "$MGMT_PORT"; then
    echo "rabbitmq: already answering on 127.0.0.1:$AMQP_PORT (management $MGMT_PORT)"
    return 0
  fi
  if [[ ! -x "$RABBIT_BIN/rabbitmq-server" ]]; then
    echo "rabbitmq: not installed; run: bash scripts/setup.sh (or: apt-get install -y rabbitmq-server)" >&2
    return 1
  fi
  rabbit_env
  mkdir -p "$HOME" "$RABBITMQ_LOG_BASE" "$RABBITMQ_MNESIA_BASE"
  cat >"$RABBITMQ_CONFIG_FILE" <<CONF
listeners.tcp.1 = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MGMT_PORT
loopback_users = none
CONF
  echo "[rabbitmq_management]." >"$RABBITMQ_ENABLED_PLUGINS_FILE"
  echo "rabbitmq: starting on 127.0.0.1:$AMQP_PORT (management $MGMT_PORT), state in $STATE/rabbitmq"
  setsid "$RABBIT_BIN/rabbitmq-server" >"$RABBITMQ_LOG_BASE/console.log" 2>&1 </dev/null &
  echo $! >"$STATE/rabbitmq.started"
  if ! "$RABBIT_BIN/rabbitmqctl" -q wait --timeout 90 "$RABBITMQ_PID_FILE" >/dev/null 2>&1 ||
    ! wait_port "$MGMT_PORT" 60; then
    echo "rabbitmq: did not start; see $RABBITMQ_LOG_BASE" >&2
    tail -20 "$RABBITMQ_LOG_BASE/console.log" >&2 || true
    return 1
  fi
  "$RABBIT_BIN/rabbitmqctl" -q add_user "$ADMIN_USER" "$ADMIN_PASS" >/dev/null 2>&1 ||
    "$RABBIT_BIN/rabbitmqctl" -q change_password "$ADMIN_USER" "$ADMIN_PASS" >/dev/null
  "$RABBIT_BIN/rabbitmqctl" -q set_user_tags "$ADMIN_USER" administrator >/dev/null
  "$RABBIT_BIN/rabbitmqctl" -q set_permissions -p / "$ADMIN_USER" '.*' '.*' '.*' >/dev/null
}

stop_rabbitmq() {
  [[ -f "$STATE/rabbitmq.started" ]] || return 0
  rabbit_env
  "$RABBIT_BIN/rabbitmqctl" -q stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 ||
    kill "$(cat "$STATE/rabbitmq.started")" 2>/dev/null || true
  rm -f "$STATE/rabbitmq.started"
  echo "rabbitmq: stopped"
}

start_moto() {
  if port_open "$MOTO_PORT"; then
    echo "moto: already answering on 127.0.0.1:$MOTO_PORT"
    return 0
  fi
  if [[ ! -x "$VENV/bin/moto_server" ]]; then
    echo "moto: not installed; run: bash scripts/setup.sh" >&2
    return 1
  fi
  echo "moto: starting on 127.0.0.1:$MOTO_PORT"
  setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$STATE/moto.log" 2>&1 </dev/null &
  echo $! >"$STATE/moto.started"
  wait_port "$MOTO_PORT" 60 || {
    echo "moto: did not start; see $STATE/moto.log" >&2
    return 1
  }
}

stop_moto() {
  [[ -f "$STATE/moto.started" ]] || return 0
  kill "$(cat "$STATE/moto.started")" 2>/dev/null || true
  rm -f "$STATE/moto.started"
  echo "moto: stopped"
}

print_env() {
  cat <<ENV
OQE_TEST_AMQP_URL=amqp://$ADMIN_USER:$ADMIN_PASS@127.0.0.1:$AMQP_PORT
OQE_TEST_MGMT_URL=http://$ADMIN_USER:$ADMIN_PASS@127.0.0.1:$MGMT_PORT
OQE_TEST_PYTHON=$VENV/bin/python
AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
ENV
}

case "${1:-}" in
  start)
    status=0
    start_rabbitmq || status=1
    start_moto || status=1
    exit $status
    ;;
  stop) # optionally only the named services: stop rabbitmq | stop moto
    what="${2:-all}"
    [[ "$what" == all || "$what" == moto ]] && stop_moto
    [[ "$what" == all || "$what" == rabbitmq ]] && stop_rabbitmq
    ;;
  status)
    port_open "$AMQP_PORT" && echo "rabbitmq amqp: up ($AMQP_PORT)" || echo "rabbitmq amqp: down ($AMQP_PORT)"
    port_open "$MGMT_PORT" && echo "rabbitmq management: up ($MGMT_PORT)" || echo "rabbitmq management: down ($MGMT_PORT)"
    port_open "$MOTO_PORT" && echo "moto: up ($MOTO_PORT)" || echo "moto: down ($MOTO_PORT)"
    ;;
  env) print_env ;;
  *)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
