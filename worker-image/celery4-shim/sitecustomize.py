"""Lets a celery 4.x worker report engine tasks in `active` (and `reserved`, `scheduled`) remote-control replies.

Celery 4.x answers remote control in JSON only, and its `Request.info()` puts the task's raw arguments in the
reply. An engine task's arguments (a function, `Pickled` blobs, a `Monitor`) cannot be JSON-encoded, so a busy
worker logs "Control command error: EncodeError" and sends no `active` reply at all: the bridge then cannot see
what it runs (celery issue #3667; celery 5 added `safe=True`, which reports the reprs instead).

The client already puts printable reprs of the arguments in every task message (`argsrepr`/`kwargsrepr`, message
protocol 2, celery/app/amqp.py), e.g. `(<function ...>, (<Pickled Cls #42 1 KB>, ...), 3, <Monitor #42 ...>)`,
which carries the calculation id the bridge reads. This module swaps the raw arguments for those strings.

It also fixes three celery 4.4.7 traps of an elastic fleet (docs/master.md, "Engine traps"):

- A remote `shutdown` is refused. The engine broadcasts it (`workers_stop()`) when a calculation is aborted
  (`oq abort`, the WebUI's abort, SIGTERM/SIGINT/SIGHUP of `oq engine`), which would stop every worker of every
  user. The lifecycle of these workers belongs to ECS and the bridge (SIGTERM after a drain); the worker logs
  the refusal and keeps consuming.
- SIGTERM never raises inside the signal handler. Celery 4.4.7 raises its shutdown exception from the handler
  when the worker has one thread, wherever the main thread happens to be; in the middle of reading an AMQP frame
  that leaves the connection in a state where the warm shutdown waits forever in `pidbox._close_channel`. The
  handler now only sets celery's own `should_stop`/`should_terminate` flags, which the event loop checks on each
  turn, as celery does since its 5.2 series (celery pull request #7339, merged March 2022).
- A task whose pool process is lost (SIGKILL, the kernel's OOM killer) is requeued once instead of acknowledged
  and forgotten (`task_reject_on_worker_lost` is false in the engine's celeryconfig, and the engine would then
  wait forever for its result). When the same message is lost again (its delivery is marked redelivered), it is
  acknowledged and the engine master receives an error result for that task, so the calculation fails with a
  message that names the task and the cause rather than hanging. Set OQ_ELASTIC_REQUEUE_LOST_TASKS=0 to keep
  celery's behaviour.

The engine fixes that apply on both sides (no version check, numbered results) come from
oq_elastic_engine_patches, imported here when it is on the path.

The entrypoint puts this directory on the worker's PYTHONPATH only, so Python imports it at start-up of the
celery worker process (and its forked pool children); under celery 5 or without celery it only loads the
engine patches.
"""
import logging
import os

logger = logging.getLogger("oq_elastic.celery4_shim")
REQUEUE_LOST_VARIABLE = "OQ_ELASTIC_REQUEUE_LOST_TASKS"
# "0" keeps celery 4.4.7's own signal handlers (scripts/bench-worker-stop.ts measures both).
FLAG_ONLY_SIGNALS_VARIABLE = "OQ_ELASTIC_FLAG_ONLY_SIGNALS"


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
    _refuse_remote_shutdown()
    if os.environ.get(FLAG_ONLY_SIGNALS_VARIABLE, "1") != "0":
        _flag_only_shutdown_handlers()
    if os.environ.get(REQUEUE_LOST_VARIABLE, "1") != "0":
        _requeue_lost_tasks_once()


def _refuse_remote_shutdown():
    from celery.worker.control import Panel

    def shutdown(state, msg="Got shutdown from remote", **kwargs):
        logger.warning(
            "Refused a remote shutdown (%s): this worker is stopped by its compute service (SIGTERM after the "
            "bridge drains it), so a broadcast from one calculation's abort cannot stop other users' work", msg
        )
        return {"error": "shutdown refused: the elastic fleet's lifecycle belongs to ECS and the bridge"}

    Panel.data["shutdown"] = shutdown


def _flag_only_shutdown_handler(worker, sig="TERM", how="Warm", exc=None, callback=None, exitcode=0):
    """celery.apps.worker._shutdown_handler, except that the main process never raises inside the handler."""
    from celery import platforms, signals
    from celery.apps.worker import safe_say
    from celery.utils.log import in_sighandler
    from billiard.process import current_process

    def handle(*args):
        with in_sighandler():
            from celery.worker import state

            if current_process()._name == "MainProcess":
                if callback:
                    callback(worker)
                safe_say("worker: {0} shutdown (MainProcess)".format(how))
                signals.worker_shutting_down.send(sender=worker.hostname, sig=sig, how=how, exitcode=exitcode)
            else:
                # A pool child runs no celery event loop that would read the flag: celery's own behaviour.
                raise exc(exitcode)
            # Never raise here: the event loop raises WorkerShutdown/WorkerTerminate itself on its next turn.
            setattr(state, {"Warm": "should_stop", "Cold": "should_terminate"}[how], exitcode)
            _wake_event_loop()

    handle.__name__ = str("worker_{0}".format(how))
    platforms.signals[sig] = handle


# The write end of a pipe the worker's event loop watches: an idle loop sleeps in its poll for up to 10 s (kombu's
# Hub.fire_timers max_delay) and Python resumes the poll after a handler runs (PEP 475), so without a wake-up the
# flag is only seen at the next timer.
_WAKEUP = {}


def _watch_wakeup_pipe(sender=None, **kwargs):
    hub = getattr(sender, "hub", None)
    if hub is None or _WAKEUP:
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)

    def drain(*args):
        try:
            os.read(read_fd, 64)
        except OSError:
            pass

    hub.add_reader(read_fd, drain)
    _WAKEUP["fd"] = write_fd


def _wake_event_loop():
    fd = _WAKEUP.get("fd")
    if fd is not None:
        try:
            os.write(fd, b"x")
        except OSError:  # a full pipe already wakes the loop
            pass


def _flag_only_shutdown_handlers():
    from functools import partial

    import celery.apps.worker as worker_app
    from celery.exceptions import WorkerShutdown, WorkerTerminate
    from celery.platforms import EX_FAILURE, EX_OK

    if getattr(worker_app, "oq_flag_only", False):
        return
    if worker_app.REMAP_SIGTERM == "SIGQUIT":
        worker_app.install_worker_term_handler = partial(
            _flag_only_shutdown_handler, sig="SIGTERM", how="Cold", exc=WorkerTerminate, exitcode=EX_FAILURE
        )
    else:
        worker_app.install_worker_term_handler = partial(
            _flag_only_shutdown_handler, sig="SIGTERM", how="Warm", exc=WorkerShutdown, exitcode=EX_OK
        )
    worker_app.install_worker_term_hard_handler = partial(
        _flag_only_shutdown_handler, sig="SIGQUIT", how="Cold", exc=WorkerTerminate, exitcode=EX_FAILURE
    )
    worker_app.install_worker_int_handler = partial(
        _flag_only_shutdown_handler, sig="SIGINT", exc=WorkerShutdown, callback=worker_app.on_SIGINT,
        exitcode=EX_FAILURE,
    )
    worker_app.oq_flag_only = True
    from celery import signals

    signals.worker_ready.connect(_watch_wakeup_pipe, weak=False)


def _requeue_lost_tasks_once():
    from billiard.exceptions import WorkerLostError
    from celery.worker.request import Request
    from celery.worker.state import task_ready

    raw_on_failure = Request.on_failure
    if getattr(raw_on_failure, "oq_requeue_once", False):
        return

    def on_failure(self, exc_info, send_failed_event=True, return_ok=False):
        exc = exc_info.exception
        if isinstance(exc, WorkerLostError) and self.task.acks_late:
            if not self.delivery_info.get("redelivered"):
                logger.warning("Task %s lost its pool process (%s): requeued once", self.id, exc)
                task_ready(self)
                self.reject(requeue=True)
                return None
            logger.error(
                "Task %s lost its pool process (%s) again after a redelivery: not requeued; the calculation "
                "is told it failed", self.id, exc
            )
            report_lost_task(self, exc)
        return raw_on_failure(self, exc_info, send_failed_event, return_ok)

    on_failure.oq_requeue_once = True
    Request.on_failure = on_failure


def report_lost_task(request, exc):
    """Sends the engine master an error result for a lost task, as the engine's own safely_call would."""
    try:
        from openquake.baselib.parallel import Result
        from openquake.baselib.zeromq import Socket, zmq

        func, _args, task_no, mon = request.args[:4]
        message = (
            "task %s #%s (celery id %s) lost its worker process twice (%s): most likely it ran out of memory; give "
            "the workers more memory per process (fewer processes per worker) or split the calculation finer"
            % (getattr(func, "__name__", func), task_no, request.id, exc)
        )
        mon.task_no = task_no
        error = Result(RuntimeError(message), mon, "(no traceback: the process was killed)\n")
        # Not one of the task's own numbered results: the master's repeated-result filter must let it through.
        error.__dict__.pop("oq_elastic_seq", None)
        with Socket(mon.backurl, zmq.PUSH, "connect") as socket:
            socket.send(error)
    except Exception:  # the ack still happens; the master then waits, and the bridge's stuck alarm fires
        logger.exception("Could not report lost task %s to the engine master", request.id)


_install()
try:
    import oq_elastic_engine_patches  # noqa: F401  (installs itself on import)
except ImportError:
    pass


# ---------------------------------------------------------------------------------------------------------------
# Trust boundary (issue 13): what remote control may make this worker do, and how it consumes the task queue.
# Kept apart from the engine-behaviour patches above; nothing here changes how a task runs.
#
# Remote control reaches every worker from anyone who may publish to the `celery.pidbox` exchange (the bridge,
# and each worker for its own health check). Two of its commands go beyond scheduling: `add_consumer` with an
# exchange or routing key of the sender's choosing makes the worker consume (and unpickle, and run) whatever is
# published there, and `pool_restart` re-imports modules. The worker answers only the bridge's drain protocol:
# `add_consumer` for its own task queue, named alone; the pool is never resized or restarted from outside.

#: The remote-control commands this worker refuses outright.
REFUSED_CONTROL_COMMANDS = ("pool_restart", "autoscale", "pool_grow", "pool_shrink")


def _task_queue_name():
    import os

    return os.environ.get("OQ_CELERY_QUEUE", "celery")


def _refusal(name):
    def refuse(state, *args, **kwargs):
        from celery.utils.log import get_logger

        get_logger("celery.worker.control").warning("refused remote control %r: not allowed on this worker", name)
        return {"error": "refused: %s is not allowed on this worker" % name}

    refuse.oq_refusal = True
    return refuse


def _guarded_add_consumer(allowed_add_consumer):
    def add_consumer(state, queue, exchange=None, exchange_type=None, routing_key=None, **options):
        overrides = dict(options, exchange=exchange, exchange_type=exchange_type, routing_key=routing_key)
        given = sorted(key for key, value in overrides.items() if value is not None)
        if queue != _task_queue_name() or given:
            from celery.utils.log import get_logger

            get_logger("celery.worker.control").warning(
                "refused remote control add_consumer(%r, %s): only the task queue %r, by name alone",
                queue, ", ".join(given) or "no options", _task_queue_name())
            return {"error": "refused: add_consumer accepts only the queue %r with no exchange, routing key or "
                             "options" % _task_queue_name()}
        return allowed_add_consumer(state, queue)

    add_consumer.oq_refusal = True
    return add_consumer


def _consume_task_queue_unbound(sender=None, instance=None, **kwargs):
    """Declares the task queue without binding it to an exchange of its name.

    The engine publishes tasks to the default exchange with the queue's name as routing key (celery 4's
    send_task_message), which reaches the queue with no binding at all. A bind would need RabbitMQ's write
    permission on the name `celery`, which also admits publishing to the exchange `celery`: the workers' broker
    user has no write there, so that a compromised worker cannot publish tasks for the others.
    """
    from kombu import Exchange, Queue

    queues = instance.app.amqp.queues
    name = _task_queue_name()
    current = queues.get(name)
    if current is None or not current.exchange or current.exchange.name != name:
        return
    queues[name] = Queue(name, Exchange(""), routing_key=name, durable=current.durable,
                         queue_arguments=current.queue_arguments)


def _install_control_limits():
    try:
        import celery
    except ImportError:
        return
    if celery.VERSION[0] != 4:
        return
    from celery import signals
    from celery.worker.control import Panel

    if getattr(Panel.data.get("add_consumer"), "oq_refusal", False):
        return
    for name in REFUSED_CONTROL_COMMANDS:
        if name in Panel.data:
            Panel.data[name] = _refusal(name)
    Panel.data["add_consumer"] = _guarded_add_consumer(Panel.data["add_consumer"])
    signals.celeryd_init.connect(_consume_task_queue_unbound, weak=False)


_install_control_limits()
