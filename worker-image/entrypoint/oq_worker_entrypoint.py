"""Entrypoint of the oq-elastic celery worker container.

Reads the worker's environment (set by the ECS task definition; passwords and the authkey come from ECS
secrets), refuses to start with one message per missing or malformed variable, renders openquake.cfg for
the engine and runs the celery worker:

  celery worker -n oq@<ecs task id> -Q celery -Ofair -c <vCPUs> --prefetch-multiplier=1
                --max-memory-per-child=<KiB> --without-gossip --without-mingle --without-heartbeat

never with --purge: a worker that purges on start deletes the waiting tasks of a running calculation.

It stays as the container's first process to make SIGTERM safe. Celery's own warm shutdown keeps its AMQP
consumer open while the running tasks finish, so the broker hands it the next message as soon as one task
acks, and that message is only returned (marked redelivered) when the worker exits. On SIGTERM this process
therefore first asks its worker, over celery remote control, to cancel its consumer of the queue (the same
`cancel_consumer` the bridge uses to drain), and only then passes SIGTERM on for the warm shutdown. As
process 1 it also reaps orphaned processes. Other signals are passed on unchanged (SIGQUIT: cold shutdown).

Usage (the container's command):  worker (default) | check
  check  validates, renders the configuration and prints a summary without starting the worker.

Runs on the engine's Python (3.8) and on Debian's 3.11, so it uses only the standard library.
"""
import configparser
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

# What the engine reads; see openquake/engine/openquake.cfg and openquake/engine/celeryconfig.py of 3.11.
DEFAULT_CONFIG_FILE = "/tmp/oq-worker/openquake.cfg"
#: Variables that carry secrets: written into the config file, never passed on to the celery worker.
SECRET_VARIABLES = ("OQ_AMQP_PASSWORD", "OQ_DBSERVER_AUTHKEY")
#: The test app's broker URL (with the password), next to the config file.
TESTAPP_BROKER_FILE_NAME = "testapp-broker-url"
STATE_FILE_NAME = "worker.json"
# The engine hard-codes this queue (openquake/baselib/parallel.py: task(safely_call, queue='celery')).
ENGINE_QUEUE = "celery"
# Share of the task's memory that the pool children may use together before celery replaces one; the rest
# is left to the worker's main process and the page cache.
CHILD_MEMORY_SHARE = 0.8
# The engine formats its broker URL as amqp://user:password@host:port/vhost without escaping
# (openquake/engine/celeryconfig.py), so these characters would break it.
URL_UNSAFE = set("/@:?#%[] \t\n")
HOST_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$")
WORKER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
METADATA_TIMEOUT_SECONDS = 5
METADATA_ATTEMPTS = 3
# sitecustomize.py that makes a celery 4.x worker answer `active` with argument reprs (celery issue #3667); put
# on the worker's PYTHONPATH only, never on this process's or the health check's.
CELERY4_SHIM_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "celery4-shim")
# oq_elastic_engine_patches.py, the engine fixes the master loads too (docs/master.md, "Engine traps"); the shim
# imports it, so it goes on the worker's PYTHONPATH next to the shim.
ENGINE_PATCHES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "engine-patches")


class ConfigError(Exception):
    """One or more variables are missing or malformed; the message lists each with its fix."""

    def __init__(self, problems):
        super().__init__("\n".join(problems))
        self.problems = problems


def _port(env, name, problems, default=None):
    raw = env.get(name, "")
    if raw == "" and default is not None:
        return default
    if raw == "":
        problems.append("%s is missing: set it to a TCP port (1-65535)" % name)
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        problems.append("%s=%r is not a TCP port: set it to an integer from 1 to 65535" % (name, raw))
        return None
    return int(raw)


def _positive_int(env, name, problems, what):
    raw = env.get(name, "")
    if raw == "":
        return None
    if not raw.isdigit() or int(raw) < 1:
        problems.append("%s=%r is malformed: set it to %s, or leave it unset" % (name, raw, what))
        return None
    return int(raw)


def _required(env, name, problems, fix):
    value = env.get(name, "")
    if value.strip() == "":
        problems.append("%s is missing: %s" % (name, fix))
        return None
    return value


def _secret(env, name, problems, fix):
    """Like _required, but no message ever contains the value."""
    value = env.get(name, "")
    if value == "":
        problems.append("%s is missing: %s" % (name, fix))
        return None
    bad = sorted(set(value) & URL_UNSAFE)
    if bad:
        problems.append(
            "%s contains %d character(s) the engine's unescaped broker URL cannot carry (one of / @ : ? # %% [ ] "
            "or white space; value not shown): generate it without punctuation" % (name, len(bad))
        )
        return None
    return value


def parse_environment(env):
    """Validates the worker environment; returns a dict of settings or raises ConfigError listing every problem."""
    problems = []
    host = _required(env, "OQ_MASTER_HOST", problems, "set it to the master's private IP address or DNS name")
    if host is not None and not HOST_RE.match(host):
        problems.append("OQ_MASTER_HOST=%r is not a host name or IPv4 address: set the master's private IP" % host)
        host = None
    user = _required(env, "OQ_AMQP_USER", problems, "set it to the engine's RabbitMQ user (openquake)")
    if user is not None and set(user) & URL_UNSAFE:
        problems.append("OQ_AMQP_USER=%r contains a character a broker URL cannot carry: use letters, digits, -_." % user)
    settings = {
        "master_host": host,
        "amqp_port": _port(env, "OQ_AMQP_PORT", problems),
        "amqp_user": user,
        "amqp_password": _secret(
            env, "OQ_AMQP_PASSWORD", problems, "inject the broker secret's `password` as an ECS secret"
        ),
        "amqp_vhost": _required(env, "OQ_AMQP_VHOST", problems, "set it to the engine's vhost (openquake)"),
        "celery_queue": _required(env, "OQ_CELERY_QUEUE", problems, "set it to celery"),
        "dbserver_port": _port(env, "OQ_DBSERVER_PORT", problems),
        "dbserver_authkey": _secret(
            env, "OQ_DBSERVER_AUTHKEY", problems, "inject the dbserver authkey secret's `authkey` as an ECS secret"
        ),
        "receiver_ports": _required(env, "OQ_RECEIVER_PORTS", problems, "set it to the master's range, e.g. 1912-1920"),
        "shared_dir": _required(env, "OQ_SHARED_DIR", problems, "set it to the read-only EFS mount point"),
        "concurrency": _positive_int(env, "OQ_WORKER_CONCURRENCY", problems, "a number of pool processes (>= 1)"),
        "max_memory_per_child_kb": _positive_int(
            env, "OQ_MAX_MEMORY_PER_CHILD_KB", problems, "a size in KiB (>= 1)"
        ),
        "config_file": env.get("OQ_CONFIG_FILE") or DEFAULT_CONFIG_FILE,
        "app": env.get("OQ_WORKER_APP", "engine"),
    }
    vhost = settings["amqp_vhost"]
    if vhost is not None and (set(vhost) & (URL_UNSAFE - {"/"})):
        problems.append("OQ_AMQP_VHOST=%r contains a character a broker URL cannot carry" % vhost)
    queue = settings["celery_queue"]
    if queue is not None and queue != ENGINE_QUEUE:
        problems.append(
            "OQ_CELERY_QUEUE=%r: the engine submits every task to the queue %r (hard-coded in "
            "openquake/baselib/parallel.py); set it to %r" % (queue, ENGINE_QUEUE, ENGINE_QUEUE)
        )
    ports = settings["receiver_ports"]
    if ports is not None:
        match = re.match(r"^(\d{1,5})-(\d{1,5})$", ports.strip())
        if not match or not 1 <= int(match.group(1)) <= int(match.group(2)) <= 65535:
            problems.append("OQ_RECEIVER_PORTS=%r is malformed: set it to a port range FROM-TO, e.g. 1912-1920" % ports)
    shared = settings["shared_dir"]
    if shared is not None and not os.path.isabs(shared):
        problems.append("OQ_SHARED_DIR=%r is not an absolute path: set it to the EFS mount point" % shared)
    if settings["app"] not in ("engine", "testapp"):
        problems.append("OQ_WORKER_APP=%r is unknown: it is set by the image build, engine or testapp" % settings["app"])
    if problems:
        raise ConfigError(problems)
    return settings


def check_shared_dir(path):
    """Returns (problems, warnings) for the shared directory as this process sees it."""
    if not os.path.isdir(path):
        return ["OQ_SHARED_DIR=%r does not exist in the container: mount the EFS volume there" % path], []
    if not os.access(path, os.R_OK | os.X_OK):
        return ["OQ_SHARED_DIR=%r is not readable by uid %d: check the access point's uid/gid" % (path, os.getuid())], []
    if os.access(path, os.W_OK):
        return [], ["OQ_SHARED_DIR=%r is writable; workers only read it, mount it read-only" % path]
    return [], []


def fetch_json(url):
    with urllib.request.urlopen(url, timeout=METADATA_TIMEOUT_SECONDS) as response:
        return json.loads(response.read().decode())


def ecs_task_metadata(env):
    """The task metadata document (ECS agent, `${ECS_CONTAINER_METADATA_URI_V4}/task`), or None off ECS."""
    base = env.get("ECS_CONTAINER_METADATA_URI_V4")
    if not base:
        return None
    # The agent serves the endpoint from the container's start; a few quick retries cover a slow first answer.
    error = None
    for attempt in range(METADATA_ATTEMPTS):
        try:
            return fetch_json(base.rstrip("/") + "/task")
        except Exception as failure:  # any failure here means the hostname cannot be trusted
            error = failure
            if attempt + 1 < METADATA_ATTEMPTS:
                time.sleep(1)
    if error is not None:
        raise ConfigError(
            ["ECS_CONTAINER_METADATA_URI_V4 is set but its /task document could not be read (%s): the worker "
             "needs its task id for its celery hostname" % type(error).__name__]
        )


def worker_id(metadata, env=None):
    """The ECS task id (last part of the task ARN); off ECS, OQ_WORKER_ID when set, else the container's hostname.

    OQ_WORKER_ID is for local runs where several workers share one host (the process backend): without it they
    would all be named after the machine, and celery remote control could not tell them apart.
    """
    if metadata is not None:
        arn = metadata.get("TaskARN", "")
        task_id = arn.rsplit("/", 1)[-1] if arn.startswith("arn:") and "/" in arn else ""
        if not WORKER_ID_RE.match(task_id):
            raise ConfigError(["the ECS task metadata has no usable TaskARN (%r)" % arn])
        return task_id
    chosen = (env or {}).get("OQ_WORKER_ID", "")
    if chosen:
        if not WORKER_ID_RE.match(chosen):
            raise ConfigError(["OQ_WORKER_ID=%r cannot name a celery worker: use letters, digits and -_." % chosen])
        return chosen
    name = socket.gethostname()
    if not WORKER_ID_RE.match(name):
        raise ConfigError(["the container hostname %r cannot name a celery worker: set a plain hostname" % name])
    return name


def cgroup_memory_bytes():
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                raw = f.read().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            return int(raw)
    return None


def mem_total_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return None


def resources(settings, metadata):
    """Concurrency and per-child memory: the variables when set, else the task's size, else the container's."""
    limits = (metadata or {}).get("Limits") or {}
    concurrency = settings["concurrency"]
    if concurrency is None:
        cpu = limits.get("CPU")
        if isinstance(cpu, (int, float)) and cpu > 0:
            # Task metadata v4 on Fargate gives the task's size as Limits.CPU in vCPUs (0.25 to 16) and
            # Limits.Memory in MiB (Amazon ECS task metadata endpoint v4 for Fargate); 0.25 vCPU still runs one.
            concurrency = max(1, int(math.floor(cpu)))
        else:
            concurrency = max(1, len(os.sched_getaffinity(0)))
    per_child = settings["max_memory_per_child_kb"]
    if per_child is None:
        memory_mib = limits.get("Memory")
        if isinstance(memory_mib, (int, float)) and memory_mib > 0:
            total = int(memory_mib) * 1024 * 1024
        else:
            total = cgroup_memory_bytes() or mem_total_bytes() or 0
        per_child = max(1, int(total * CHILD_MEMORY_SHARE / concurrency / 1024))
    return concurrency, per_child


def render_config(settings):
    """The engine's openquake.cfg for a celery worker, as a ConfigParser."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg["distribution"] = {"oq_distribute": "celery"}
    cfg["amqp"] = {
        "host": settings["master_host"],
        "port": str(settings["amqp_port"]),
        "user": settings["amqp_user"],
        "password": settings["amqp_password"],
        "vhost": settings["amqp_vhost"],
        "celery_queue": settings["celery_queue"],
    }
    cfg["dbserver"] = {
        "multi_user": "true",
        "host": settings["master_host"],
        "port": str(settings["dbserver_port"]),
        "receiver_ports": settings["receiver_ports"].strip(),
        "authkey": settings["dbserver_authkey"],
    }
    cfg["directory"] = {"shared_dir": settings["shared_dir"]}
    return cfg


def write_private(path, text):
    """Writes a file only its owner can read: it holds the broker password and the dbserver authkey."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def broker_url(settings):
    return "amqp://%s:%s@%s:%d/%s" % (
        urllib.parse.quote(settings["amqp_user"], safe=""),
        urllib.parse.quote(settings["amqp_password"], safe=""),
        settings["master_host"],
        settings["amqp_port"],
        urllib.parse.quote(settings["amqp_vhost"], safe=""),
    )


def redacted_broker_url(settings):
    return "amqp://%s:***@%s:%d/%s" % (
        settings["amqp_user"], settings["master_host"], settings["amqp_port"], settings["amqp_vhost"]
    )


def worker_argv(settings, hostname, concurrency, per_child_kb):
    """The celery command line; it carries no secret (the broker URL comes from the config or the environment)."""
    if settings["app"] == "engine":
        # The engine's own form (its packaged openquake-celery service), minus --purge; celery 4.4 syntax.
        command = ["celery", "worker", "--config", "openquake.engine.celeryconfig"]
    else:
        command = ["celery", "-A", "oq_testapp", "worker"]
    return command + [
        "-n", hostname,
        "-Q", settings["celery_queue"],
        "-Ofair",
        "-c", str(concurrency),
        "--prefetch-multiplier=1",
        "--max-memory-per-child=%d" % per_child_kb,
        # Remote control (ping, stats, active, cancel_consumer) stays on; gossip, mingle and event heartbeats
        # only add start-up delay and broker traffic that nothing here uses.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=INFO",
    ]


def stop_consuming(settings, hostname):
    """Asks the worker to cancel its consumer of the queue; returns a line for the log (never the password)."""
    try:
        from celery import Celery

        app = Celery("oq-worker-stop", broker=broker_url(settings))
        # Remote control speaks the worker's serializer: celery 5 uses task_serializer and accept_content for
        # it (celery/app/control.py), celery 4.4 always JSON; the engine's workers accept only pickle tasks.
        app.conf.update(task_serializer="pickle", accept_content=["pickle", "json"], broker_connection_timeout=5)
        replies = app.control.cancel_consumer(
            settings["celery_queue"], destination=[hostname], reply=True, timeout=5
        )
    except Exception as error:
        return "could not cancel the consumer (%s); warm shutdown anyway" % type(error).__name__
    if any(hostname in reply for reply in replies or []):
        return "%s stopped consuming from %s" % (hostname, settings["celery_queue"])
    return "%s did not confirm cancel_consumer within 5 s; warm shutdown anyway" % hostname


def exit_code(status):
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return 1


def supervise(argv, env, settings, hostname):
    """Runs the worker as a child, makes SIGTERM stop consumption first, and returns the worker's exit code."""
    child = subprocess.Popen(argv, env=env)
    terminating = []

    def on_term(signum, frame):
        if terminating:  # a second SIGTERM: pass it on (celery then shuts down cold)
            child.send_signal(signum)
            return
        terminating.append(True)
        log("SIGTERM: " + stop_consuming(settings, hostname))
        log("SIGTERM: warm shutdown, running tasks finish first")
        child.send_signal(signal.SIGTERM)

    def forward(signum, frame):
        child.send_signal(signum)

    signal.signal(signal.SIGTERM, on_term)
    for signum in (signal.SIGINT, signal.SIGQUIT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(signum, forward)
    # As process 1, wait for any child so that orphans are reaped; otherwise wait for the worker only.
    wait_for = -1 if os.getpid() == 1 else child.pid
    while True:
        try:
            pid, status = os.waitpid(wait_for, 0)
        except ChildProcessError:
            return child.returncode if child.returncode is not None else 1
        if pid == child.pid:
            child.returncode = exit_code(status)
            log("worker exited with code %d" % child.returncode)
            return child.returncode


def log(line):
    print("oq-worker: " + line, file=sys.stderr, flush=True)


def prepare(env):
    """Validates everything and renders the configuration; returns (argv, child environment, summary lines)."""
    settings = parse_environment(env)
    problems, warnings = check_shared_dir(settings["shared_dir"])
    if problems:
        raise ConfigError(problems)
    metadata = ecs_task_metadata(env)
    hostname = "oq@" + worker_id(metadata, env)
    concurrency, per_child = resources(settings, metadata)
    cfg = render_config(settings)
    from io import StringIO

    buffer = StringIO()
    cfg.write(buffer)
    write_private(settings["config_file"], buffer.getvalue())
    state = {"hostname": hostname, "app": settings["app"], "concurrency": concurrency}
    state_path = os.path.join(os.path.dirname(settings["config_file"]), STATE_FILE_NAME)
    write_private(state_path, json.dumps(state))
    # The secrets leave the worker's environment once they are in the 0600 file: celery, its pool children and
    # every task they run inherit the environment, and a task's code can read it (os.environ, /proc/self/environ).
    child_env = {name: value for name, value in env.items() if name not in SECRET_VARIABLES}
    child_env["OQ_CONFIG_FILE"] = settings["config_file"]
    child_env["OQ_WORKER_STATE_FILE"] = state_path
    shim_dirs = [d for d in (CELERY4_SHIM_DIR, ENGINE_PATCHES_DIR) if os.path.isdir(d)]
    if shim_dirs:
        child_env["PYTHONPATH"] = os.pathsep.join(p for p in shim_dirs + [env.get("PYTHONPATH")] if p)
    if settings["app"] == "testapp":
        broker_file = os.path.join(os.path.dirname(settings["config_file"]), TESTAPP_BROKER_FILE_NAME)
        write_private(broker_file, broker_url(settings))
        child_env.pop("OQ_TESTAPP_BROKER", None)
        child_env["OQ_TESTAPP_BROKER_FILE"] = broker_file
    argv = worker_argv(settings, hostname, concurrency, per_child)
    summary = ["warning: " + w for w in warnings] + [
        "hostname %s, concurrency %d, max memory per child %d KiB" % (hostname, concurrency, per_child),
        "broker %s, queue %s, shared_dir %s" % (redacted_broker_url(settings), settings["celery_queue"],
                                                settings["shared_dir"]),
        "config %s" % settings["config_file"],
        "worker PYTHONPATH %s" % child_env.get("PYTHONPATH", ""),
        "command: %s" % " ".join(argv),
    ]
    return argv, child_env, summary, settings, hostname


def main(args, env):
    mode = args[0] if args else "worker"
    if mode not in ("worker", "check") or len(args) > 1:
        print("oq-worker: unexpected arguments %r: the command is `worker` (default) or `check`; "
              "worker options (and never --purge) are fixed by the image" % (args,), file=sys.stderr)
        return 64
    try:
        argv, child_env, summary, settings, hostname = prepare(env)
    except ConfigError as error:
        print("oq-worker: refusing to start:", file=sys.stderr)
        for problem in error.problems:
            print("  - " + problem, file=sys.stderr)
        return 78
    for line in summary:
        log(line)
    if mode == "check":
        return 0
    return supervise(argv, child_env, settings, hostname)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], dict(os.environ)))
