#!/usr/bin/env bash
# Provisions RabbitMQ for the OpenQuake celery cluster: the engine's user and vhost, the bridge's
# least-privileged user, no `guest`, and a consumer_timeout long enough for engine tasks.
# Idempotent: every run converges to the same state (users updated in place, nothing duplicated).
#
# Inputs (environment):
#   OQ_AMQP_PASSWORD, OQ_BRIDGE_PASSWORD  required; read from Secrets Manager by the boot script
#   OQ_CONSUMER_TIMEOUT_MS  applied to the running node too (rabbitmq.conf only takes effect at the next start)
#   RABBITMQCTL             the rabbitmqctl command (default: rabbitmqctl); the tests point it at a local node
# Passwords go to rabbitmqctl on stdin, never on its command line (which any local user can read in ps).
set -euo pipefail

: "${OQ_AMQP_USER:=openquake}"
: "${OQ_BRIDGE_USER:=oq-bridge}"
: "${OQ_AMQP_VHOST:=openquake}"
: "${OQ_CONSUMER_TIMEOUT_MS:=}"
: "${RABBITMQCTL:=rabbitmqctl}"

die() {
  echo "provision-rabbitmq: $*" >&2
  exit 1
}

[[ -n "${OQ_AMQP_PASSWORD:-}" ]] || die "OQ_AMQP_PASSWORD is empty: set it from the broker secret's 'password' key"
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

# The bridge's user. The `management` tag (the least of the management UI tags) shows only the vhosts the user
# has permissions in: enough for GET /api/queues/<vhost>/celery; `monitoring` would show every vhost and
# connection. The regexes admit celery's remote control (kombu's pidbox, namespace `celery`) and nothing else:
#   configure: declare the broadcast exchange, the reply exchange and its own reply queues
#   write:     publish to the broadcast exchange; bind its reply queue (queue.bind checks write on the queue)
#   read:      bind to the reply exchange (read on the exchange) and consume its reply queue
# The celery queue and the engine's exchanges match none of them, so the bridge can neither take nor publish
# engine tasks. (A passive queue.declare, which reads the live message count, checks no permission.)
pidbox='celery\.pidbox'
reply_exchange='reply\.celery\.pidbox'
reply_queue='[A-Za-z0-9_-]+\.reply\.celery\.pidbox'
ensure_user "$OQ_BRIDGE_USER" "$OQ_BRIDGE_PASSWORD"
rmq set_user_tags "$OQ_BRIDGE_USER" management
rmq set_permissions -p "$OQ_AMQP_VHOST" "$OQ_BRIDGE_USER" \
  "^($pidbox|$reply_exchange|$reply_queue)\$" \
  "^($pidbox|$reply_queue)\$" \
  "^($reply_exchange|$reply_queue)\$"

# The default administrator with the well-known password goes.
if user_exists guest; then
  rmq delete_user guest >/dev/null
fi

if [[ -n "$OQ_CONSUMER_TIMEOUT_MS" ]]; then
  rmq eval "application:set_env(rabbit, consumer_timeout, $OQ_CONSUMER_TIMEOUT_MS)." >/dev/null
fi

echo "provision-rabbitmq: vhost '$OQ_AMQP_VHOST', users '$OQ_AMQP_USER' and '$OQ_BRIDGE_USER' provisioned"
