"""Health check of the oq-elastic celery worker: healthy only while the worker answers a celery ping.

The ping travels through the broker to the worker's own remote-control queue, so it fails when the broker is
unreachable, when the worker lost its connection, and when the worker's main loop is stuck; busy pool
processes do not delay it (the main process answers). Exit 0 healthy, 1 unhealthy. Reads the hostname that
the entrypoint recorded and the broker settings from the environment; prints no secret.

ECS ignores the image's HEALTHCHECK: set the container definition's healthCheck to
  ["CMD", "/opt/openquake/venv/bin/python", "/opt/openquake/bin/oq_worker_healthcheck.py"]
"""
import json
import os
import sys
import urllib.parse

TIMEOUT_SECONDS = float(os.environ.get("OQ_HEALTHCHECK_TIMEOUT", "5"))


def main():
    state_file = os.environ.get("OQ_WORKER_STATE_FILE", "/tmp/oq-worker/worker.json")
    try:
        with open(state_file) as f:
            hostname = json.load(f)["hostname"]
    except (OSError, ValueError, KeyError):
        print("unhealthy: the worker has not started (no %s)" % state_file)
        return 1
    env = os.environ
    url = "amqp://%s:%s@%s:%s/%s" % (
        urllib.parse.quote(env.get("OQ_AMQP_USER", ""), safe=""),
        urllib.parse.quote(env.get("OQ_AMQP_PASSWORD", ""), safe=""),
        env.get("OQ_MASTER_HOST", ""),
        env.get("OQ_AMQP_PORT", "5672"),
        urllib.parse.quote(env.get("OQ_AMQP_VHOST", ""), safe=""),
    )
    from celery import Celery

    app = Celery("oq-healthcheck", broker=url)
    # The worker's serializer for remote control: pickle under celery 5 (like the engine's tasks), JSON under 4.4.
    app.conf.update(broker_connection_timeout=TIMEOUT_SECONDS, task_serializer="pickle", accept_content=["pickle", "json"])
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=TIMEOUT_SECONDS)
            replies = app.control.ping(destination=[hostname], timeout=TIMEOUT_SECONDS, connection=conn)
    except Exception as error:
        print("unhealthy: broker unreachable (%s)" % type(error).__name__)
        return 1
    if any(hostname in reply for reply in replies or []):
        print("healthy: %s answered ping" % hostname)
        return 0
    print("unhealthy: %s did not answer ping within %.0f s" % (hostname, TIMEOUT_SECONDS))
    return 1


if __name__ == "__main__":
    sys.exit(main())
