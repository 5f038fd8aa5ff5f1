"""Submits a calculation's tasks the way an OpenQuake Engine 3.x master does, for the demo and the tests.

Engine 3.x (openquake/baselib/parallel.py, Starmap.submit_all/_loop) submits the first `num_cores` tasks,
keeps the rest in memory and submits one more each time a task ends. Here "a task ended" is read from the
workers' journal (OQ_TESTAPP_JOURNAL), the stand-in for the engine's zmq result stream. A task that ends twice
(redelivered after a worker died) releases only one slot, as the engine counts each task once.

  python engine_master.py --calc-id N --num-cores K --durations FILE.json --journal PATH [--partials P]

Prints one JSON line per event on stdout: {"event": "submitted"|"ended"|"done", "task_no": ..., "t": ...}.
Broker from OQ_TESTAPP_BROKER. Publishing is retried while the broker is down (a restart of RabbitMQ must not
lose the calculation).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "worker-image", "testapp"))
import oq_testapp  # noqa: E402


def emit(event, **fields):
    sys.stdout.write(json.dumps(dict(event=event, t=time.time(), **fields)) + "\n")
    sys.stdout.flush()


def submit_with_retry(calc_id, task_no, duration, partials):
    while True:
        try:
            oq_testapp.submit(calc_id, task_no, duration, partials)
            emit("submitted", task_no=task_no)
            return
        except Exception as exc:  # broker down: wait and retry, as the engine's master would block
            emit("publish_retry", task_no=task_no, error=type(exc).__name__)
            time.sleep(1.0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calc-id", type=int, required=True)
    parser.add_argument("--num-cores", type=int, required=True)
    parser.add_argument("--durations", required=True)
    parser.add_argument("--journal", required=True)
    parser.add_argument("--partials", type=int, default=2)
    opts = parser.parse_args()
    with open(opts.durations) as f:
        durations = json.load(f)
    if opts.num_cores < 1:
        sys.exit("engine_master: --num-cores is %d; pass the fleet's maximum worker processes (>= 1)" % opts.num_cores)

    ended = set()
    next_task = 0
    for _ in range(min(opts.num_cores, len(durations))):
        submit_with_retry(opts.calc_id, next_task, durations[next_task], opts.partials)
        next_task += 1

    offset = 0
    pending = b""
    while len(ended) < len(durations):
        try:
            with open(opts.journal, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            chunk = b""
        offset += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            record = json.loads(line)
            if record.get("event") != "end" or record.get("calc_id") != opts.calc_id:
                continue
            task_no = record["task_no"]
            if task_no in ended:
                continue
            ended.add(task_no)
            emit("ended", task_no=task_no)
            if next_task < len(durations):
                submit_with_retry(opts.calc_id, next_task, durations[next_task], opts.partials)
                next_task += 1
        time.sleep(0.2)
    emit("done", tasks=len(durations))


if __name__ == "__main__":
    main()
