"""A stand-in for the OpenQuake Engine's celery side, for tests and the demo.

It is configured like openquake/engine/celeryconfig.py of engine 3.11 (pickle only, acks_late, prefetch 1,
rpc:// backend, results ignored, the `celery` queue) and registers its one task under the engine's name,
`openquake.baselib.parallel.safely_call`, with the engine's argument shape `(func, args, task_no, mon)`.
`args` holds `Pickled` objects whose repr matches the engine's (`<Pickled Cls #calc_id size>`), so
celery's `active` shows the calculation id the way it does for the engine.

Like the engine's safely_call, a task streams several partial results before it ends. The engine sends
them to the master over zmq; here each start, partial result and end is appended, one JSON line each,
to the journal file named by OQ_TESTAPP_JOURNAL, so that tests and the demo can count from what the
workers recorded: every task started and ended, none run twice, none lost.

Works with celery 4.4 (the engine's) and 5.x.

Environment:
  OQ_TESTAPP_BROKER_FILE  a file holding the broker's AMQP URL (the worker image's entrypoint writes it, so that
                      the password is not in the worker's environment); else
  OQ_TESTAPP_BROKER   AMQP URL of the broker (default amqp://guest:guest@127.0.0.1:5672/openquake)
  OQ_TESTAPP_JOURNAL  path of the JSON-lines journal (default: no journal)
"""
import json
import os
import socket
import time

from celery import Celery



def _broker_url():
    path = os.environ.get("OQ_TESTAPP_BROKER_FILE")
    if path:
        with open(path) as f:
            return f.read().strip()
    return os.environ.get("OQ_TESTAPP_BROKER", "amqp://guest:guest@127.0.0.1:5672/openquake")


app = Celery("oq_testapp")
app.conf.update(
    broker_url=_broker_url(),
    task_serializer="pickle",
    result_serializer="pickle",
    accept_content=["pickle"],
    broker_pool_limit=None,
    result_backend="rpc://",
    result_persistent=False,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    result_cache_max=1,
    task_ignore_result=True,
    task_default_queue="celery",
    # Celery 5 would retry the first connection forever; fail fast like a health check expects.
    broker_connection_retry_on_startup=True,
)


class Pickled:
    """Carries a payload the way the engine's openquake.baselib.parallel.Pickled does, with its repr."""

    def __init__(self, obj, calc_id):
        self.clsname = type(obj).__name__
        self.calc_id = str(calc_id)
        self.obj = obj

    def __repr__(self):
        return "<Pickled %s #%s %dB>" % (self.clsname, self.calc_id, len(repr(self.obj)))

    def unpickle(self):
        return self.obj


def _journal(event, **fields):
    path = os.environ.get("OQ_TESTAPP_JOURNAL")
    if not path:
        return
    record = dict(event=event, t=time.time(), pid=os.getpid(), host=socket.gethostname(), **fields)
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    # One write with O_APPEND: lines from concurrent processes never interleave (each is well under PIPE_BUF).
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def hazard_like(spec):
    """Sleeps `duration` seconds in `partials` steps, yielding a partial result after each (a generator, as
    many engine task functions are)."""
    steps = max(1, int(spec.get("partials", 1)))
    for step in range(steps):
        time.sleep(float(spec.get("duration", 0)) / steps)
        yield step


@app.task(name="openquake.baselib.parallel.safely_call", bind=True, queue="celery")
def safely_call(self, func, args, task_no=0, mon=None):
    """Runs func(*args) like the engine's safely_call, journaling start, each partial result and end."""
    args = [a.unpickle() if hasattr(a, "unpickle") else a for a in args]
    spec = args[0] if args and isinstance(args[0], dict) else {}
    common = dict(
        task_id=self.request.id,
        task_no=task_no,
        calc_id=spec.get("calc_id"),
        worker=self.request.hostname,
        redelivered=bool((self.request.delivery_info or {}).get("redelivered")),
    )
    _journal("start", **common)
    for step in func(*args):
        _journal("partial", step=step, **common)
    _journal("end", **common)
    return None


def submit(calc_id, task_no, duration, partials=2):
    """Submits one task the way the engine's master does (safetask.delay(func, args, task_no, monitor))."""
    spec = dict(calc_id=calc_id, duration=duration, partials=partials)
    return safely_call.delay(hazard_like, [Pickled(spec, calc_id)], task_no, None)
