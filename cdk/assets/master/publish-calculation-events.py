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
# two phases), ended (complete, failed, aborted in the last 10 minutes).
#
# AMQP: kombu from the engine venv, with the engine's own [amqp] settings from openquake.cfg, read by the
# engine's config module as celeryconfig reads them (the engine's user owns the vhost). Nothing here needs a new port or the WebUI.
# It travels in an SSM parameter of at most 4 KB, comment lines stripped (cdk/lib/master/calculation-events.ts).
import os
import re
import sqlite3
import time
from datetime import datetime, timezone

import kombu
from openquake.baselib import config

ENV = os.environ
DB = ENV['OQ_ENGINE_DB']
QUEUE = ENV['OQ_EVENTS_QUEUE']
RECENT_MS = 600000
PROGRESS = re.compile(r'(\S+)\s+\d+% \[\d+ submitted, (\d+) queued\]$')
# Each job with its last progress or end-of-phase line (the log_job_id index keeps the subquery cheap).
SQL = """SELECT id, status, start_time, stop_time, (SELECT timestamp || '|' || message FROM log
WHERE job_id = job.id AND (message LIKE '%submitted, % queued]' OR message LIKE 'Received % in % seconds')
ORDER BY log.id DESC LIMIT 1) FROM job WHERE status IN
('created', 'submitted', 'executing', 'complete', 'failed', 'aborted') ORDER BY id DESC LIMIT 500"""


# The engine writes UTC timestamps as text (sqlite CURRENT_TIMESTAMP, datetime.utcnow()).
def ms(text):
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


# One calculation as the bridge reads it (see the header). `created`/`submitted` rows older than RECENT_MS were
# left behind by a crash, and ended ones that old are no longer news: both are left out.
def calculation(id, status, start, stop, line, now):
    if status != 'executing':
        ended = status in ('complete', 'failed', 'aborted')
        c = {'id': id, 'status': 'ended' if ended else 'started', 'since': ms(stop or start if ended else start)}
        return c if now - c['since'] <= RECENT_MS else None
    if line is None:
        return {'id': id, 'status': 'started', 'since': ms(start)}
    at, _, message = line.partition('|')
    p = PROGRESS.search(message)
    c = {'id': id, 'status': 'running' if p else 'between-phases', 'since': ms(at)}
    return dict(c, phase=p.group(1), tasksHeldByMaster=int(p.group(2))) if p else c


# No database yet (the DbServer creates it) means no calculation. Read-only: never a lock the DbServer waits on.
def snapshot(now):
    rows = []
    if os.path.exists(DB):
        db = sqlite3.connect('file:%s?mode=ro' % DB, uri=True, timeout=30)
        rows = db.execute(SQL).fetchall()
        db.close()
    found = [c for c in (calculation(*r, now) for r in reversed(rows)) if c]
    return {'version': 1, 'publishedAt': now, 'calculations': found}


def main():
    a = config.amqp
    args = {'x-max-length': 1, 'x-message-ttl': 60000}
    target = kombu.Queue(QUEUE, routing_key=QUEUE, durable=False, queue_arguments=args)
    # kombu's names for openquake.cfg's [amqp] keys (the secret is passed on, never written out here).
    names = {'hostname': 'host', 'userid': 'user', 'password': 'password', 'virtual_host': 'vhost'}
    broker = {k: a[v] for k, v in names.items()}
    with kombu.Connection(port=int(a['port']), transport='pyamqp', heartbeat=30, **broker) as conn:
        producer = conn.Producer(serializer='json')
        publish = conn.ensure(producer, producer.publish, max_retries=None, interval_max=10)
        seen = {}
        while True:
            body = snapshot(int(time.time() * 1000))
            # The events, for the journal: a calculation that started, changed status or phase, or ended.
            for c in body['calculations']:
                state = '%s %s' % (c['status'], c.get('phase', ''))
                if seen.get(c['id']) != state:
                    print('calculation %d %s held=%s' % (c['id'], state, c.get('tasksHeldByMaster')), flush=True)
                seen[c['id']] = state
            publish(body, routing_key=QUEUE, declare=[target])
            if ENV.get('OQ_EVENTS_ONCE'):
                return
            time.sleep(3)


if __name__ == '__main__':
    main()
