#!/usr/bin/env bash
# Provisions RabbitMQ for the OpenQuake celery cluster: the engine's user and vhost, the workers' and the
# bridge's least-privileged users, no `guest`, and a consumer_timeout long enough for engine tasks.
# Idempotent: every run converges to the same state (users updated in place, nothing duplicated).
#
# Inputs (environment):
#   OQ_AMQP_PASSWORD, OQ_WORKER_PASSWORD, OQ_BRIDGE_PASSWORD  required; read from Secrets Manager by the boot script
#   OQ_CONSUMER_TIMEOUT_MS  applied to the running node too (rabbitmq.conf only takes effect at the next start)
#   RABBITMQCTL             the rabbitmqctl command (default: rabbitmqctl); the tests point it at a local node
# Passwords go to rabbitmqctl on stdin, never on its command line (which any local user can read in ps).
set -euo pipefail

: "${OQ_AMQP_USER:=openquake}"
: "${OQ_BRIDGE_USER:=oq-bridge}"
: "${OQ_WORKER_USER:=oq-worker}"
: "${OQ_AMQP_VHOST:=openquake}"
: "${OQ_CONSUMER_TIMEOUT_MS:=}"
: "${RABBITMQCTL:=rabbitmqctl}"

die() {
  echo "provision-rabbitmq: $*" >&2
  exit 1
}

[[ -n "${OQ_AMQP_PASSWORD:-}" ]] || die "OQ_AMQP_PASSWORD is empty: set it from the broker secret's 'password' key"
[[ -n "${OQ_WORKER_PASSWORD:-}" ]] ||
  die "OQ_WORKER_PASSWORD is empty: set it from the worker broker secret's 'password' key"
[[ -n "${OQ_BRIDGE_PASSWORD:-}" ]] ||
  die "OQ_BRIDGE_PASSWORD is empty: set it from the bridge broker secret's 'password' key"
if [[ -n "$OQ_CONSUMER_TIMEOUT_MS" && ! "$OQ_CONSUMER_TIMEOUT_MS" =~ ^[1-9][0-9]*$ ]]; then
  die "OQ_CONSUMER_TIMEOUT_MS='$OQ_CONSUMER_TIMEOUT_MS' is not a positive integer of milliseconds"
fi

read -r -a ctl <<<"$RABBITMQCTL"

rmq() { "${ctl[@]}" -q "$@"; }

# Listed once: each rabbitmqctl call starts an Erlang VM (about a second).
existing_users=$(rmq list_users --no-table-headers | cut -f1)
user_exists() {
  grep -qxF -- "$1" <<<"$existing_users"
}

# Creates the user or resets its password, so a rotated secret is picked up at the next boot.
ensure_user() { # name password
  if user_exists "$1"; then
    printf '%s' "$2" | rmq change_password "$1" >/dev/null
  else
    printf '%s' "$2" | rmq add_user "$1" >/dev/null
  fi
}

if ! rmq list_vhosts --no-table-headers | grep -qxF -- "$OQ_AMQP_VHOST"; then
  rmq add_vhost "$OQ_AMQP_VHOST"
fi

# The engine's user: everything in its own vhost and nothing elsewhere, as in the classic cluster guide.
ensure_user "$OQ_AMQP_USER" "$OQ_AMQP_PASSWORD"
rmq set_user_tags "$OQ_AMQP_USER"
rmq set_permissions -p "$OQ_AMQP_VHOST" "$OQ_AMQP_USER" '.*' '.*' '.*'

# Names of celery's remote control (kombu's pidbox, namespace `celery`): the fanout exchange every worker
# listens on, the direct exchange replies go to, and the per-node and per-client queues.
pidbox='celery\.pidbox'
reply_exchange='reply\.celery\.pidbox'
# A worker's own mailbox queue, `<hostname>.celery.pidbox`; the image names every worker `oq@<task id>`.
worker_mailbox='oq@[A-Za-z0-9_-]+\.celery\.pidbox'
# A kombu client's reply queue, `<oid>.reply.celery.pidbox` (oid: a UUID): the worker's health check and its
# SIGTERM drain ask their own node through remote control.
client_reply_queue='[0-9a-f-]{36}\.reply\.celery\.pidbox'
# The bridge's reply queues carry a prefix of their own (bridge/src/observe/celery-remote-control.ts).
bridge_reply_queue='oq-bridge-[A-Za-z0-9_-]+\.reply\.celery\.pidbox'

# RabbitMQ checks permissions on a name, whatever it names (exchange or queue): configure for declare/delete,
# write for publish (on the exchange) and queue.bind (on the queue), read for consume/get (on the queue) and
# queue.bind (on the exchange). basic.ack checks nothing.
#
# The workers' user. Tasks are pickles: whoever can publish to the `celery` queue runs code on every worker. The
# engine publishes them through the default exchange (celery 4's send_task_message turns a direct queue with no
# explicit exchange into exchange '' with the queue name as routing key), so the workers get neither `celery`
# nor `amq.default` in write; the celery 4 shim of the worker image declares the task queue without binding it
# (a bind would need write on `celery`, which would also admit publishing to the `celery` exchange).
#   configure: the task queue, the remote-control exchanges, its own mailbox and client reply queues
#   write:     publish replies and its own pings to the remote-control exchanges; bind its own queues
#   read:      consume the task queue and its own queues; bind to the remote-control exchanges
ensure_user "$OQ_WORKER_USER" "$OQ_WORKER_PASSWORD"
rmq set_user_tags "$OQ_WORKER_USER"
rmq set_permissions -p "$OQ_AMQP_VHOST" "$OQ_WORKER_USER" \
  "^(celery|$pidbox|$reply_exchange|$worker_mailbox|$client_reply_queue)\$" \
  "^($pidbox|$reply_exchange|$worker_mailbox|$client_reply_queue)\$" \
  "^(celery|$pidbox|$reply_exchange|$worker_mailbox|$client_reply_queue)\$"

# The bridge's user. The `management` tag (the least of the management UI tags) shows only the vhosts the user
# has permissions in: enough for GET /api/queues/<vhost>/celery; `monitoring` would show every vhost and
# connection. The regexes admit celery's remote control and nothing else:
#   configure: declare the broadcast exchange, the reply exchange and its own reply queues
#   write:     publish to the broadcast exchange; bind its reply queue (queue.bind checks write on the queue)
#   read:      bind to the reply exchange (read on the exchange) and consume its reply queue; consume the
#              master's calculation events queue (declared and written by the engine's user only: neither the
#              bridge nor the workers may write to it or to `amq.default`, so neither can forge a snapshot)
# Its own reply queues only: a wider pattern (any `*.reply.celery.pidbox`) let the bridge declare an exchange
# of that shape, have a worker `add_consumer` from it and publish a pickled task there. The celery queue and the
# engine's exchanges match none of them, so the bridge can neither take nor publish engine tasks. (A passive
# queue.declare, which reads the live message count, checks no permission.)
events_queue='oq-elastic\.calculations'
ensure_user "$OQ_BRIDGE_USER" "$OQ_BRIDGE_PASSWORD"
rmq set_user_tags "$OQ_BRIDGE_USER" management
rmq set_permissions -p "$OQ_AMQP_VHOST" "$OQ_BRIDGE_USER" \
  "^($pidbox|$reply_exchange|$bridge_reply_queue)\$" \
  "^($pidbox|$bridge_reply_queue)\$" \
  "^($reply_exchange|$bridge_reply_queue|$events_queue)\$"

# The default administrator with the well-known password goes.
if user_exists guest; then
  rmq delete_user guest >/dev/null
fi

if [[ -n "$OQ_CONSUMER_TIMEOUT_MS" ]]; then
  rmq eval "application:set_env(rabbit, consumer_timeout, $OQ_CONSUMER_TIMEOUT_MS)." >/dev/null
fi

echo "provision-rabbitmq: vhost '$OQ_AMQP_VHOST', users '$OQ_AMQP_USER', '$OQ_WORKER_USER' and '$OQ_BRIDGE_USER' provisioned"
