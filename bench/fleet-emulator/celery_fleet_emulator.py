"""An emulated fleet of celery 4.4 workers on the real RabbitMQ, for benchmarks at hundreds to thousands of workers.

One Python process stands in for N engine workers (celery 4.4.7, prefork pool, `-Ofair`, prefetch multiplier 1,
acks_late, the worker image's argsrepr shim). It speaks what the broker and the bridge see of a worker:

- per worker, the control queue `<hostname>.celery.pidbox` bound to the fanout exchange `celery.pidbox`
  (kombu/pidbox.py `Mailbox._get_queue`: durable False, auto_delete True; celery 4.4's control queue TTL 300 s
  and expiry 10 s, celery/app/defaults.py `control_queue_ttl`, `control_queue_expires`), on a channel of its own;
- per worker, a consumer of the task queue (`celery`) with a prefetch of `concurrency` (prefetch multiplier 1);
- the remote-control commands the bridge sends (ping, stats, active, reserved, active_queues, cancel_consumer,
  add_consumer), answered in celery 4.4's JSON mailbox format: `{hostname: reply}` on the reply exchange named
  in `reply_to`, with the request's ticket in the headers (kombu/pidbox.py `Mailbox._publish_reply`); requests
  whose `destination` leaves the worker out are ignored, as `Node.handle_message` does;
- task messages (celery protocol 2: `id`, `task`, `argsrepr` headers) taken from the queue run for a while
  (header `oq_emu_seconds`, else --task-seconds) and are then acked; a worker running `concurrency` tasks holds
  further deliveries as reserved.

Each worker answers after a delay of its own (drawn once from --reply-ms, seeded), plus a little jitter, like
hosts of different load. Workers are spread over connections of --per-connection workers, one thread each.

Commands arrive as JSON lines on stdin; events leave as JSON lines on stdout:
  {"op": "add", "workers": ["oq@a", ...]}          -> {"event": "added", "workers": [...]}
  {"op": "remove", "workers": [...]}               -> {"event": "removed", "worker": h, "busy": bool} each
  {"op": "busy", "workers": [...], "seconds": s}   a synthetic task on each (no queue message involved)
  {"op": "idle", "workers": [...]}                 ends every task they hold (queue tasks are acked)
  {"op": "state"}                                  -> {"event": "state", "busy": [...], "consuming": n}
EOF on stdin stops the process.

Usage: python celery_fleet_emulator.py --broker amqp://user:pass@127.0.0.1:5672/vhost [--concurrency 2] ...
The broker URL carries a password: pass it in OQE_EMULATOR_BROKER rather than on the command line.
"""
import argparse
import heapq
import json
import os
import queue
import random
import sys
import threading
import time
import uuid

from kombu import Connection
import amqp

PIDBOX_EXCHANGE = "celery.pidbox"
CONTROL_QUEUE_TTL_MS = 300_000
CONTROL_QUEUE_EXPIRES_MS = 10_000

_out_lock = threading.Lock()


def emit(event):
    with _out_lock:
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()


class Task:
    def __init__(self, task_id, name, argsrepr, delivery_tag, routing_key, synthetic=False):
        self.id = task_id
        self.name = name
        self.argsrepr = argsrepr
        self.delivery_tag = delivery_tag
        self.routing_key = routing_key
        self.synthetic = synthetic
        self.started = None
        self.pid = None

    def info(self, hostname):
        # celery 4.4.7 Request.info() with the worker image's argsrepr shim (args/kwargs as reprs).
        return {
            "id": self.id,
            "name": self.name,
            "args": self.argsrepr,
            "kwargs": "{}",
            "type": self.name,
            "hostname": hostname,
            "time_start": self.started,
            "acknowledged": self.started is not None,
            "delivery_info": {
                "exchange": "",
                "routing_key": self.routing_key,
                "priority": 0,
                "redelivered": False,
            },
            "worker_pid": self.pid,
        }


class Worker:
    """One emulated celery worker: its channel, its control queue, its task consumer and its tasks."""

    def __init__(self, hostname, group, reply_delay_s):
        self.hostname = hostname
        self.group = group
        self.reply_delay_s = reply_delay_s
        self.channel = None
        self.consumer_tag = None
        self.active = []
        self.reserved = []
        self.pid = group.rng.randint(1000, 60000)
        self.started_at = time.time()

    @property
    def busy(self):
        return len(self.active) + len(self.reserved) > 0

    def open(self, conn):
        opts = self.group.opts
        ch = conn.channel()
        self.channel = ch
        ch.exchange_declare(PIDBOX_EXCHANGE, "fanout", durable=False, auto_delete=False)
        control_queue = "%s.celery.pidbox" % self.hostname
        ch.queue_declare(
            control_queue,
            durable=False,
            auto_delete=True,
            arguments={"x-message-ttl": CONTROL_QUEUE_TTL_MS, "x-expires": CONTROL_QUEUE_EXPIRES_MS},
        )
        ch.queue_bind(control_queue, PIDBOX_EXCHANGE, "")
        ch.basic_consume(control_queue, callback=self.on_control, no_ack=True)
        # celery declares its task queue durable (kombu Queue defaults), as the bridge's queue probe expects.
        ch.queue_declare(opts.queue, durable=True, auto_delete=False)
        ch.basic_qos(0, opts.concurrency, False)
        self.consume()

    def consume(self):
        if self.consumer_tag is None:
            self.consumer_tag = self.channel.basic_consume(self.group.opts.queue, callback=self.on_task)

    def cancel(self):
        if self.consumer_tag is not None:
            self.channel.basic_cancel(self.consumer_tag)
            self.consumer_tag = None

    def close(self):
        try:
            self.channel.close()
        except Exception:
            pass

    # --- tasks -------------------------------------------------------------------------------------------
    def on_task(self, message):
        headers = message.headers or {}
        seconds = float(headers.get("oq_emu_seconds", self.group.opts.task_seconds))
        task = Task(
            str(headers.get("id", uuid.uuid4())),
            str(headers.get("task", "openquake.baselib.parallel.safely_call")),
            str(headers.get("argsrepr", "()")),
            message.delivery_tag,
            message.delivery_info.get("routing_key", self.group.opts.queue),
        )
        if len(self.active) < self.group.opts.concurrency:
            self.start(task, seconds)
        else:
            task.seconds = seconds
            self.reserved.append(task)

    def start(self, task, seconds):
        task.started = time.time()
        task.pid = self.pid + 1 + len(self.active)
        self.active.append(task)
        self.group.at(time.monotonic() + seconds, lambda: self.finish(task))

    def finish(self, task):
        if task not in self.active:
            return
        self.active.remove(task)
        if not task.synthetic and self.channel is not None:
            try:
                self.channel.basic_ack(task.delivery_tag)
            except Exception:
                pass
        if self.reserved and len(self.active) < self.group.opts.concurrency:
            nxt = self.reserved.pop(0)
            self.start(nxt, getattr(nxt, "seconds", self.group.opts.task_seconds))

    def synthetic(self, seconds):
        task = Task(str(uuid.uuid4()), "openquake.baselib.parallel.safely_call", "(<Pickled emulated>,)", 0, "celery", True)
        self.start(task, seconds)

    def end_tasks(self):
        """Every task it holds ends now (acked), as if they had all just finished."""
        waiting, self.reserved = self.reserved, []
        for task in list(self.active) + waiting:
            if task not in self.active:
                self.active.append(task)
            self.finish(task)

    # --- remote control ----------------------------------------------------------------------------------
    def on_control(self, message):
        try:
            body = json.loads(message.body if isinstance(message.body, str) else message.body.decode("utf-8"))
        except Exception:
            return
        destination = body.get("destination")
        if destination and self.hostname not in destination:
            return
        expires = (message.headers or {}).get("expires")
        if expires and time.time() > float(expires):
            return
        reply_to = body.get("reply_to")
        method = body.get("method")
        reply = self.handle(method, body.get("arguments") or {})
        if reply is None or not reply_to:
            return
        delay = self.reply_delay_s * (0.8 + 0.4 * self.group.rng.random())
        ticket = body.get("ticket")
        payload = json.dumps({self.hostname: reply})
        self.group.at(time.monotonic() + delay, lambda: self.publish_reply(reply_to, ticket, payload))

    def publish_reply(self, reply_to, ticket, payload):
        if self.channel is None:
            return
        self.channel.basic_publish(
            amqp.Message(
                payload,
                content_type="application/json",
                content_encoding="utf-8",
                application_headers={"ticket": ticket},
                delivery_mode=1,
            ),
            exchange=reply_to["exchange"],
            routing_key=reply_to["routing_key"],
        )

    def handle(self, method, arguments):
        opts = self.group.opts
        if method == "ping":
            return {"ok": "pong"}
        if method == "stats":
            return {
                "total": {},
                "pid": self.pid,
                "clock": str(self.group.clock),
                "pool": {
                    "max-concurrency": opts.concurrency,
                    "processes": [self.pid + 1 + i for i in range(opts.concurrency)],
                    "max-tasks-per-child": "N/A",
                    "put-guarded-by-semaphore": False,
                    "timeouts": [0, 0],
                    "writes": {"total": 0, "avg": "0.00%", "all": "", "raw": "", "strategy": "fair", "inqueues": {"total": opts.concurrency, "active": len(self.active)}},
                },
                "broker": {"hostname": "127.0.0.1", "transport": "amqp", "virtual_host": opts.vhost, "port": 5672, "heartbeat": 120.0},
                "prefetch_count": opts.concurrency,
                "rusage": {"utime": 1.0, "stime": 0.1, "maxrss": 60000},
            }
        if method == "active":
            return [t.info(self.hostname) for t in self.active]
        if method == "reserved":
            return [t.info(self.hostname) for t in self.reserved]
        if method == "active_queues":
            if self.consumer_tag is None:
                return []
            return [
                {
                    "name": opts.queue,
                    "exchange": {"name": opts.queue, "type": "direct", "arguments": None, "durable": True, "passive": False, "auto_delete": False, "delivery_mode": None, "no_declare": False},
                    "routing_key": opts.queue,
                    "queue_arguments": None,
                    "binding_arguments": None,
                    "consumer_arguments": None,
                    "durable": True,
                    "exclusive": False,
                    "auto_delete": False,
                    "no_ack": False,
                    "alias": None,
                    "bindings": [],
                    "no_declare": None,
                    "expires": None,
                    "message_ttl": None,
                    "max_length": None,
                    "max_length_bytes": None,
                    "max_priority": None,
                }
            ]
        # Like celery (worker/control.py schedules both with consumer.call_soon), the reply comes first and the
        # consumer changes afterwards, from the group's loop: basic_cancel/basic_consume wait for the broker's
        # answer, and waiting inside this callback nests one wait per worker when a batch names many workers of
        # the connection, which stalled every reply of the batch.
        if method == "cancel_consumer":
            self.group.at(time.monotonic(), self.cancel)
            return {"ok": "no longer consuming from %s" % arguments.get("queue", opts.queue)}
        if method == "add_consumer":
            self.group.at(time.monotonic(), self.consume)
            return {"ok": "add consumer %s" % arguments.get("queue", opts.queue)}
        return {"error": "No such control command: %s" % method}


class Group(threading.Thread):
    """Up to --per-connection workers on one AMQP connection, driven by one thread (py-amqp is not thread-safe)."""

    def __init__(self, opts, seed):
        super().__init__(daemon=True)
        self.opts = opts
        self.rng = random.Random(seed)
        self.commands = queue.Queue()
        self.timers = []
        self.seq = 0
        self.clock = 0
        self.workers = {}
        self.assigned = 0
        self.conn = Connection(opts.broker, heartbeat=0)
        self.conn.connect()

    def at(self, when, fn):
        self.seq += 1
        heapq.heappush(self.timers, (when, self.seq, fn))

    def run(self):
        raw = self.conn.connection
        while True:
            while True:
                try:
                    op = self.commands.get_nowait()
                except queue.Empty:
                    break
                if op is None:
                    return
                op()
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now:
                _, _, fn = heapq.heappop(self.timers)
                fn()
            wait = 0.05
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - time.monotonic()))
            try:
                raw.drain_events(timeout=wait)
                self.clock += 1
            except OSError:
                pass  # socket.timeout: nothing arrived in time

    def add(self, hostname):
        lo, hi = self.opts.reply_ms
        w = Worker(hostname, self, self.rng.uniform(lo, hi) / 1000.0)
        w.open(self.conn.connection)
        self.workers[hostname] = w

    def remove(self, hostname):
        w = self.workers.pop(hostname, None)
        if w is None:
            return
        emit({"event": "removed", "worker": hostname, "busy": w.busy, "active": len(w.active)})
        w.channel, ch = None, w.channel
        try:
            ch.close()
        except Exception:
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", default=os.environ.get("OQE_EMULATOR_BROKER"))
    parser.add_argument("--vhost", default="openquake", help="reported in stats only")
    parser.add_argument("--queue", default="celery")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--task-seconds", type=float, default=5.0)
    parser.add_argument("--reply-ms", type=float, nargs=2, default=[2.0, 40.0], metavar=("MIN", "MAX"))
    parser.add_argument("--per-connection", type=int, default=100)
    parser.add_argument("--seed", type=int, default=17)
    opts = parser.parse_args()
    if not opts.broker:
        parser.error("no broker: set OQE_EMULATOR_BROKER (amqp://user:password@host:port/vhost) or pass --broker")
    if opts.concurrency < 1 or opts.per_connection < 1:
        parser.error("--concurrency and --per-connection must be at least 1")

    groups = []
    where = {}

    def call(group, fn):
        done = threading.Event()
        box = {}

        def op():
            try:
                box["value"] = fn()
            except Exception as error:  # reported, never fatal to the fleet
                box["error"] = repr(error)
            done.set()

        group.commands.put(op)
        done.wait()
        if "error" in box:
            emit({"event": "error", "error": box["error"]})
        return box.get("value")

    def group_for_new():
        for g in groups:
            if g.assigned < opts.per_connection:
                return g
        g = Group(opts, opts.seed + len(groups))
        g.start()
        groups.append(g)
        return g

    def per_group(hosts, fn):
        """Runs fn(group, hostnames) once per group, in the group's thread, for the known hostnames."""
        by_group = {}
        for h in hosts:
            if h in where:
                by_group.setdefault(where[h], []).append(h)
        for g, names in by_group.items():
            call(g, lambda g=g, names=names: fn(g, names))

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            cmd = json.loads(line)
        except ValueError:
            emit({"event": "error", "error": "not JSON: %s" % line[:80]})
            continue
        op = cmd.get("op")
        hosts = cmd.get("workers", [])
        if op == "add":
            new = [h for h in dict.fromkeys(hosts) if h not in where]
            for h in new:
                g = group_for_new()
                g.assigned += 1
                where[h] = g
            per_group(new, lambda g, names: [g.add(h) for h in names])
            emit({"event": "added", "workers": hosts})
        elif op == "remove":
            for h in hosts:
                if h not in where:
                    emit({"event": "removed", "worker": h, "busy": False, "unknown": True})
            per_group(hosts, lambda g, names: [g.remove(h) for h in names])
            for h in hosts:
                g = where.pop(h, None)
                if g is not None:
                    g.assigned -= 1
        elif op == "busy":
            seconds = float(cmd.get("seconds", opts.task_seconds))
            per_group(hosts, lambda g, names: [g.workers[h].synthetic(seconds) for h in names])
            emit({"event": op, "workers": hosts})
        elif op == "idle":
            per_group(hosts, lambda g, names: [g.workers[h].end_tasks() for h in names])
            emit({"event": op, "workers": hosts})
        elif op == "state":
            busy = []
            consuming = 0
            for g in groups:
                snapshot = call(g, lambda g=g: [(w.hostname, w.busy, w.consumer_tag is not None) for w in g.workers.values()])
                for h, b, c in snapshot or []:
                    if b:
                        busy.append(h)
                    if c:
                        consuming += 1
            emit({"event": "state", "busy": busy, "consuming": consuming, "workers": len(where)})
        else:
            emit({"event": "error", "error": "unknown op %r" % op})
    for g in groups:
        g.commands.put(None)


if __name__ == "__main__":
    main()
