"""Fixes to OpenQuake Engine 3.11.5 for a cluster whose workers come and go (master and workers alike).

Loaded into every engine process: on the master by a `.pth` file in the engine's virtual environment (the boot
script installs both, cdk/lib/master/boot-script.ts), on a worker by the worker image's celery 4 shim. Each fix
waits until the engine module it changes is imported (a post-import hook), so importing this module costs
nothing and it changes nothing in a process that never imports the engine. See docs/master.md, "Engine traps".

- No version check. `openquake.engine.engine.check_obsolete_version` sends an HTTP request to the engine
  project's server at the start of every calculation (and for the WebUI's "check version" view); private
  subnets have no reason to call out. The function answers None, the engine's own "check not performed".
- Master process pools sized by the master. `Starmap.num_cores` both windows the celery queue (the first
  `num_cores` tasks are sent, then one per task ended) and sizes the local `processpool` that reads source
  models (commonlib/source_reader.py) and aggregates losses (calculators/post_risk.py). On this cluster
  num_cores is the fleet's maximum (the queue must show that demand), so the pool would start one process per
  fleet slot on the master. `Starmap.init` now starts its process pool with the master's own CPUs
  (`OQ_ELASTIC_LOCAL_PROCESSES` overrides), and the queue window keeps num_cores.
- Repeated results dropped. A task whose worker dies is redelivered and runs again from its start; any result it
  had already sent (a generator task sends several) would reach the master twice and be aggregated twice. Each
  result a task sends carries its position in that task's output (`oq_elastic_seq`); the master's receiver drops
  a result whose (task number, position) it has already received. Engine tasks are deterministic in their
  arguments (seeds included), so a re-run sends the same sequence. `OQ_ELASTIC_DROP_REPEATED_RESULTS=0` turns
  this off.
"""
import importlib.abc
import logging
import os
import sys

SEQUENCE_ATTRIBUTE = "oq_elastic_seq"
LOCAL_PROCESSES_VARIABLE = "OQ_ELASTIC_LOCAL_PROCESSES"
DROP_REPEATED_VARIABLE = "OQ_ELASTIC_DROP_REPEATED_RESULTS"
_MARK = "_oq_elastic_patched"


def _no_version_check(calculation_mode="WebUI"):
    """Replaces check_obsolete_version: None means "the check could not be performed" to the engine."""
    return None


def patch_engine_module(engine):
    if getattr(engine.check_obsolete_version, _MARK, False):
        return
    setattr(_no_version_check, _MARK, True)
    engine.check_obsolete_version = _no_version_check


def local_processes(environ=os.environ):
    """Processes of the master's local pool: OQ_ELASTIC_LOCAL_PROCESSES, else the CPUs this process may use."""
    raw = environ.get(LOCAL_PROCESSES_VARIABLE, "")
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(
                "%s=%r is not a positive integer: set it to the number of processes the master's local pool may "
                "start (its CPUs by default), or unset it" % (LOCAL_PROCESSES_VARIABLE, raw)
            )
        return int(raw)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _bounded_init(original):
    def init(cls, distribute=None):
        # Only the pool's creation reads num_cores here; the celery window (Starmap._loop) reads it later, so the
        # class value is lowered for the call and put back at once.
        window = cls.num_cores
        bound = min(window, local_processes())
        if bound < window and not hasattr(cls, "pool"):
            cls.num_cores = bound
            try:
                return original.__func__(cls, distribute)
            finally:
                cls.num_cores = window
        return original.__func__(cls, distribute)

    setattr(init, _MARK, True)
    return classmethod(init)


def _numbered_result_init(original):
    def __init__(self, val, mon, tb_str="", msg=""):
        original(self, val, mon, tb_str, msg)
        # Outputs, errors, subtasks and the end marker are numbered; the memory warning that safely_call may send
        # first is not (it depends on the machine, so a re-run may or may not send it).
        if mon is not None and msg in ("", "TASK_ENDED"):
            position = getattr(mon, SEQUENCE_ATTRIBUTE, 0)
            setattr(mon, SEQUENCE_ATTRIBUTE, position + 1)
            setattr(self, SEQUENCE_ATTRIBUTE, position)

    setattr(__init__, _MARK, True)
    return __init__


class RepeatedResultFilter(object):
    """Wraps a Starmap's receiving socket: iterating it skips results a task number already delivered."""

    def __init__(self, socket):
        self._socket = socket
        self._seen = set()
        self.dropped = 0

    def __getattr__(self, name):
        return getattr(self._socket, name)

    def __iter__(self):
        for result in self._socket:
            position = getattr(result, SEQUENCE_ATTRIBUTE, None)
            mon = getattr(result, "mon", None)
            if position is not None and mon is not None:
                key = (getattr(mon, "calc_id", None), getattr(mon, "task_no", None), position)
                if key in self._seen:
                    self.dropped += 1
                    logging.warning(
                        "Dropping result %d of task %s: already received (the task was run again after its "
                        "worker was lost)", position, key[1]
                    )
                    continue
                self._seen.add(key)
            yield result


def _filtering_submit(original):
    def submit(self, *args, **kwargs):
        outcome = original(self, *args, **kwargs)
        socket = getattr(self, "socket", None)
        if socket is not None and not isinstance(socket, RepeatedResultFilter):
            self.socket = RepeatedResultFilter(socket)
        return outcome

    setattr(submit, _MARK, True)
    return submit


def patch_parallel_module(parallel, environ=os.environ):
    starmap, result = parallel.Starmap, parallel.Result
    if getattr(starmap.__dict__["init"].__func__, _MARK, False):
        return
    starmap.init = _bounded_init(starmap.__dict__["init"])
    result.__init__ = _numbered_result_init(result.__init__)
    if environ.get(DROP_REPEATED_VARIABLE, "1") != "0":
        starmap.submit = _filtering_submit(starmap.submit)


PATCHES = {
    "openquake.engine.engine": patch_engine_module,
    "openquake.baselib.parallel": patch_parallel_module,
}


class _PatchingLoader(importlib.abc.Loader):
    """Runs the real loader, then the patch; everything else (get_source for tracebacks) goes to the real one."""

    def __init__(self, inner, patch):
        self._inner = inner
        self._patch = patch

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        self._patch(module)


class _PostImportHook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        patch = PATCHES.get(name)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _PatchingLoader(spec.loader, patch)
                return spec
        return None


def install():
    """Patches the engine modules already imported and hooks those imported later. Idempotent."""
    for name, patch in PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    if not any(isinstance(finder, _PostImportHook) for finder in sys.meta_path):
        sys.meta_path.insert(0, _PostImportHook())


install()
