"""Lets a celery 4.x worker report engine tasks in `active` (and `reserved`, `scheduled`) remote-control replies.

Celery 4.x answers remote control in JSON only, and its `Request.info()` puts the task's raw arguments in the
reply. An engine task's arguments (a function, `Pickled` blobs, a `Monitor`) cannot be JSON-encoded, so a busy
worker logs "Control command error: EncodeError" and sends no `active` reply at all: the bridge then cannot see
what it runs (celery issue #3667; celery 5 added `safe=True`, which reports the reprs instead).

The client already puts printable reprs of the arguments in every task message (`argsrepr`/`kwargsrepr`, message
protocol 2, celery/app/amqp.py), e.g. `(<function ...>, (<Pickled Cls #42 1 KB>, ...), 3, <Monitor #42 ...>)`,
which carries the calculation id the bridge reads. This module swaps the raw arguments for those strings.

The entrypoint puts this directory on the worker's PYTHONPATH only, so Python imports it at start-up of the
celery worker process (and its forked pool children); it changes nothing under celery 5 or without celery.
"""


def _install():
    try:
        import celery
    except ImportError:
        return
    if celery.VERSION[0] != 4:
        return
    from celery.worker.request import Request

    raw_info = Request.info
    if getattr(raw_info, "oq_argsrepr", False):
        return

    def info(self, safe=False):
        described = raw_info(self, safe)
        described["args"] = self.argsrepr
        described["kwargs"] = self.kwargsrepr
        return described

    info.oq_argsrepr = True
    Request.info = info


_install()
