#!/usr/bin/env bash
# The pinned OpenQuake Engine on this machine, for the demo and the end-to-end tests: a virtual environment in
# .engine-venv (or OQE_ENGINE_VENV) on Python 3.8 with openquake.engine, celery and setproctitle at the versions
# of contract/engine-release.json, every other dependency pinned by the master's constraints file
# (cdk/assets/master/engine-constraints-py38.txt), so the local master and workers run what production runs.
# The environment stays as the engine ships it (tests compare with it); the local master loads the engine
# patches of docs/master.md ("Engine traps") itself (local/engine/local-engine-master.ts).
# Also creates the `openquake` user the engine's multi-user DbServer runs as (uid/gid 1200 when free, as on the
# master and in the worker image).
#
# Cached: the environment is rebuilt only when the constraints, contract/engine-release.json, this script or the
# interpreter change (a stamp holds their hash); a warm run takes well under a second.
# Python 3.8 is found like scripts/build-host-python-base.sh finds it: OQE_HOST_PYTHON (a prefix, or its
# bin/python3.8), pyenv's newest 3.8.*, or python3.8 on the PATH. Cold: about a minute (psutil compiles).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${OQE_ENGINE_VENV:-$ROOT/.engine-venv}"
CONSTRAINTS="cdk/assets/master/engine-constraints-py38.txt"
OPENQUAKE_ID=1200

log() { echo "setup-engine-env: $*" >&2; }

release() { python3 -c 'import json,sys; print(json.load(open("contract/engine-release.json"))[sys.argv[1]])' "$1"; }
ENGINE="$(release engine)"
CELERY="$(release celery)"
MINOR="$(release python)"

find_python() {
  if [[ -n "${OQE_HOST_PYTHON:-}" ]]; then
    local candidate="${OQE_HOST_PYTHON%/}"
    [[ -x "$candidate/bin/python$MINOR" ]] && { echo "$candidate/bin/python$MINOR"; return; }
    [[ -x "$candidate" ]] && { echo "$candidate"; return; }
    log "error: OQE_HOST_PYTHON=$OQE_HOST_PYTHON is neither a prefix with bin/python$MINOR nor an executable"
    exit 64
  fi
  local versions=("${PYENV_ROOT:-$HOME/.pyenv}/versions/$MINOR".*)
  local newest
  newest="$(printf '%s\n' "${versions[@]}" | sort -V | tail -n 1)"
  [[ -n "$newest" && -x "$newest/bin/python$MINOR" ]] && { echo "$newest/bin/python$MINOR"; return; }
  command -v "python$MINOR" || true
}

ensure_openquake_user() {
  id openquake >/dev/null 2>&1 && return
  if [[ $(id -u) -ne 0 ]]; then
    log "error: no user 'openquake' (the engine's multi-user DbServer runs as it); as root: useradd --system openquake"
    exit 1
  fi
  local idopt=()
  getent group "$OPENQUAKE_ID" >/dev/null || getent passwd "$OPENQUAKE_ID" >/dev/null || idopt=(--uid "$OPENQUAKE_ID")
  if ((${#idopt[@]} > 0)); then groupadd --gid "$OPENQUAKE_ID" openquake; else groupadd --system openquake; fi
  useradd "${idopt[@]}" --gid openquake --home-dir /var/lib/openquake --create-home \
    --shell /usr/sbin/nologin openquake
  log "created the user openquake ($(id openquake))"
}

ensure_openquake_user

PYTHON="$(find_python)"
if [[ -z "$PYTHON" ]]; then
  log "error: no Python $MINOR found (engine $ENGINE runs on Python 3.6 to 3.8): install it with pyenv" \
    "(pyenv install $MINOR) or set OQE_HOST_PYTHON to its prefix"
  exit 1
fi

want="$( (sha256sum "$CONSTRAINTS" contract/engine-release.json "${BASH_SOURCE[0]}"; "$PYTHON" -VV) | sha256sum | cut -c1-16)"
if [[ "$(cat "$VENV/.installed" 2>/dev/null)" == "$want" && -x "$VENV/bin/oq" ]]; then
  exit 0
fi
log "installing openquake.engine==$ENGINE, celery==$CELERY on $("$PYTHON" -V) into $VENV"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
# --prefer-binary: every dependency but psutil (no Linux wheel below 5.8) installs from wheels.
"$VENV/bin/pip" install -q --disable-pip-version-check --prefer-binary -c "$CONSTRAINTS" \
  "openquake.engine==$ENGINE" "celery==$CELERY" setproctitle
"$VENV/bin/python" -c "import openquake.engine, celery, setproctitle; assert openquake.engine.__version__ == '$ENGINE'"
echo "$want" >"$VENV/.installed"
log "done"
