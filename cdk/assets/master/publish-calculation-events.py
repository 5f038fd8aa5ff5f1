# The master's calculation events for the bridge (systemd service oq-calculation-events, engine venv's Python).
#
# Every few seconds it reads the engine database read-only and publishes one JSON snapshot of the calculations to
# a queue on the engine's vhost that the bridge may only read. A snapshot, not a stream of deltas: the bridge
# needs no history, a lost message costs one poll, and each snapshot doubles as the heartbeat that tells the
# bridge the signal is fresh. The queue keeps the newest snapshot only (x-max-length 1) and drops it after a
# minute (x-message-ttl), so a bridge that starts late never reads an old state.
#
# What it reads (engine 3.11.5: openquake/server/db/schema/upgrades, server/db/actions.py, baselib/parallel.py):
#   job.status      'executing' while `oq engine --run` works (set_status), 'complete'/'failed'/'aborted' after;
#                   'created'/'submitted' just before it executes
#   log.message     Starmap's progress line "<task> NN% [S submitted, Q queued]" (Q: tasks the master still
#                   holds back), and IterResult's "Received {...} in N seconds", logged once a phase's results
#                   are all in
# and maps each calculation to: started (no progress line yet: pre-processing), running (the last line is a
# progress line; tasksHeldByMaster = Q), between-phases (the last line is "Received ...": the master works between
# two phases), ended (complete, failed, aborted within the last OQ_EVENTS_ENDED_SECONDS).
#
# AMQP: kombu from the engine venv, with the engine's own [amqp] settings from openquake.cfg (the engine's user
# owns the vhost). Nothing here needs a new port or the WebUI.
import configparser
import json
import os
import re
import sqlite3
import sys
import time
from datetime import datetime, timezone

PROGRESS = re.compile(r'^(\S+)\s+(\d+)% \[(\d+) submitted, (\d+) queued\]$')
RECEIVED = re.compile(r'^Received .* in \d+ seconds$')
SNAPSHOT_VERSION = 1


def utc_ms(timestamp):
    """The engine writes UTC timestamps as text (sqlite CURRENT_TIMESTAMP, datetime.utcnow())."""
    text = str(timestamp).replace('T', ' ')
    fmt = '%Y-%m-%d %H:%M:%S.%f' if '.' in text else '%Y-%m-%d %H:%M:%S'
    return int(datetime.strptime(text, fmt).replace(tzinfo=timezone.utc).timestamp() * 1000)


def phase_of(conn, job_id):
    """The last progress or end-of-phase line of a job: (kind, timestamp, match) or None."""
    row = conn.execute(
        "SELECT timestamp, message FROM log WHERE job_id = ? AND "
        "(message LIKE '%submitted, % queued]' OR message LIKE 'Received % in % seconds') "
        'ORDER BY id DESC LIMIT 1',
        (job_id,),
    ).fetchone()
    if row is None:
        return None
    progress = PROGRESS.match(row[1])
    if progress:
        return 'running', row[0], progress
    if RECEIVED.match(row[1]):
        return 'between-phases', row[0], None
    return None


def read_calculations(db_path, now_ms, ended_seconds=600, pending_seconds=600):
    """The calculations as the bridge reads them (see the header), from the engine database at `db_path`."""
    if not os.path.exists(db_path):
        return []  # the DbServer has not created it yet: no calculation at all
    conn = sqlite3.connect('file:%s?mode=ro' % db_path, uri=True, timeout=30)
    try:
        rows = conn.execute(
            'SELECT id, status, start_time, stop_time FROM job '
            "WHERE status IN ('created', 'submitted', 'executing', 'complete', 'failed', 'aborted') "
            'ORDER BY id DESC LIMIT 500'
        ).fetchall()
        calculations = []
        for job_id, status, start_time, stop_time in rows:
            started = utc_ms(start_time)
            if status in ('complete', 'failed', 'aborted'):
                ended_at = utc_ms(stop_time) if stop_time else started
                if now_ms - ended_at <= ended_seconds * 1000:
                    calculations.append({'id': job_id, 'status': 'ended', 'since': ended_at})
                continue
            if status != 'executing':
                # created or submitted: about to execute; an old one was left behind by a crash.
                if now_ms - started <= pending_seconds * 1000:
                    calculations.append({'id': job_id, 'status': 'started', 'since': started})
                continue
            phase = phase_of(conn, job_id)
            if phase is None:
                calculations.append({'id': job_id, 'status': 'started', 'since': started})
            elif phase[0] == 'running':
                calculations.append(
                    {
                        'id': job_id,
                        'status': 'running',
                        'since': utc_ms(phase[1]),
                        'phase': phase[2].group(1),
                        'tasksHeldByMaster': int(phase[2].group(4)),
                    }
                )
            else:
                calculations.append({'id': job_id, 'status': 'between-phases', 'since': utc_ms(phase[1])})
        calculations.sort(key=lambda c: c['id'])
        return calculations
    finally:
        conn.close()


def snapshot(db_path, now_ms, ended_seconds=600):
    """One message: the calculations and when the master read them."""
    return {
        'version': SNAPSHOT_VERSION,
        'publishedAt': now_ms,
        'calculations': read_calculations(db_path, now_ms, ended_seconds),
    }


def broker_url(config_file):
    """The engine's own broker settings (openquake.cfg [amqp]); the password never leaves this process."""
    parser = configparser.ConfigParser()
    if not parser.read(config_file):
        raise SystemExit('publish-calculation-events: cannot read %s (OQ_CONFIG_FILE)' % config_file)
    amqp = parser['amqp']
    from urllib.parse import quote

    return 'amqp://%s:%s@%s:%s/%s' % (
        quote(amqp.get('user'), safe=''),
        quote(amqp.get('password'), safe=''),
        amqp.get('host'),
        amqp.get('port', '5672'),
        quote(amqp.get('vhost'), safe=''),
    )


def describe_changes(previous, current):
    """Event lines for the journal: what started, changed phase or ended since the last snapshot."""
    before = {c['id']: c for c in previous}
    lines = []
    for c in current:
        old = before.get(c['id'])
        if old is None or old['status'] != c['status'] or old.get('phase') != c.get('phase'):
            detail = ' phase=%s held=%s' % (c['phase'], c['tasksHeldByMaster']) if 'phase' in c else ''
            lines.append('calculation %d %s%s' % (c['id'], c['status'], detail))
    return lines


def publish_forever(url, queue, db_path, interval, ended_seconds, once=False):
    import kombu  # the engine venv's, celery's own AMQP client

    arguments = {'x-max-length': 1, 'x-message-ttl': 60000}
    previous = []
    with kombu.Connection(url, heartbeat=30) as connection:
        producer = connection.Producer(serializer='json')
        target = kombu.Queue(queue, exchange='', routing_key=queue, durable=False, queue_arguments=arguments)
        publish = connection.ensure(producer, producer.publish, max_retries=None, interval_start=1, interval_max=10)
        while True:
            body = snapshot(db_path, int(time.time() * 1000), ended_seconds)
            for line in describe_changes(previous, body['calculations']):
                print(line, flush=True)
            previous = body['calculations']
            publish(body, exchange='', routing_key=queue, declare=[target])
            if once:
                return body
            time.sleep(interval)


def main():
    env = os.environ
    publish_forever(
        broker_url(env.get('OQ_CONFIG_FILE', '/etc/openquake/openquake.cfg')),
        env.get('OQ_EVENTS_QUEUE', 'oq-elastic.calculations'),
        env['OQ_ENGINE_DB'],
        float(env.get('OQ_EVENTS_INTERVAL_SECONDS', '3')),
        int(env.get('OQ_EVENTS_ENDED_SECONDS', '600')),
        once=env.get('OQ_EVENTS_ONCE') == '1',
    )
    return 0


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--print':
        print(json.dumps(snapshot(os.environ['OQ_ENGINE_DB'], int(time.time() * 1000))))
        sys.exit(0)
    sys.exit(main())
