#!/usr/bin/env bash
# Makes a local base image whose `python3` is a CPython built on this host (pyenv), laid out like the public
# python images (/usr/local), on top of the debootstrap Debian base of scripts/build-base-image.sh. It lets the
# pinned engine (3.11.5: Python 3.6 to 3.8) run in a worker container on a machine whose Debian offers no
# Python that old and that cannot pull the public python:3.8 image. Local tests only; production uses the public
# base (worker-image/Dockerfile's default BASE_IMAGE).
#
#   scripts/build-host-python-base.sh [MAJOR.MINOR]   default 3.8; prints localhost/oq-elastic-base:<suite>-py38-<hash>
#
# The interpreter is found in OQE_HOST_PYTHON (an installation prefix, or its bin/pythonX.Y), else in pyenv's
# versions directory (the newest X.Y.*), else as pythonX.Y on the PATH; exit code 3 when none is found (callers
# use that to skip). It must be built on the same Debian release as the base (the base's suite defaults to the
# host's VERSION_CODENAME), because it links the host's shared libraries (libssl3, libffi8, libsqlite3 ...):
# the image build checks with ldd that every library the interpreter and the standard modules the worker needs
# link to is present, and fails naming the missing one.
#
# Cached by content: the tag carries a hash of the base image id, the interpreter's binary and libpython, and
# this recipe, so a warm run only inspects images. Environment: OQE_HOST_PYTHON, OQE_BASE_SUITE, PODMAN.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MINOR="${1:-3.8}"
read -r -a PODMAN_CMD <<<"${PODMAN:-podman --runtime runc --cgroup-manager=cgroupfs}"
# Bump when the recipe below changes, so images made the old way are not reused.
RECIPE=1

log() { echo "build-host-python-base: $*" >&2; }

[[ "$MINOR" =~ ^3\.[0-9]+$ ]] || { log "error: version '$MINOR' is not MAJOR.MINOR, e.g. 3.8"; exit 64; }

# The installation prefix of a python$MINOR, or nothing.
find_prefix() {
  local candidate
  if [[ -n "${OQE_HOST_PYTHON:-}" ]]; then
    candidate="${OQE_HOST_PYTHON%/}"
    [[ -x "$candidate/bin/python$MINOR" ]] && { echo "$candidate"; return; }
    [[ -x "$candidate" && "$(basename "$candidate")" == "python$MINOR" ]] && { dirname "$(dirname "$candidate")"; return; }
    log "error: OQE_HOST_PYTHON=$OQE_HOST_PYTHON is neither a prefix with bin/python$MINOR nor that executable"
    exit 64
  fi
  local pyenv_root="${PYENV_ROOT:-$HOME/.pyenv}"
  local versions=("$pyenv_root/versions/$MINOR".*)
  candidate="$(printf '%s\n' "${versions[@]}" | sort -V | tail -n 1)"
  [[ -n "$candidate" && -x "$candidate/bin/python$MINOR" ]] && { echo "$candidate"; return; }
  candidate="$(command -v "python$MINOR" || true)"
  if [[ -n "$candidate" ]]; then
    "$candidate" -c 'import sys; print(sys.base_prefix)'
  fi
}

PREFIX="$(find_prefix)"
if [[ -z "$PREFIX" ]]; then
  log "no Python $MINOR found (set OQE_HOST_PYTHON to its prefix, or install it with pyenv)"
  exit 3
fi
LIBPYTHON="$PREFIX/lib/libpython$MINOR.so.1.0"
[[ -f "$LIBPYTHON" ]] || { log "error: $PREFIX has no $LIBPYTHON: build it with --enable-shared (pyenv: PYTHON_CONFIGURE_OPTS)"; exit 1; }

# shellcheck source=/dev/null
SUITE="${OQE_BASE_SUITE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")}"
BASE="$("$ROOT/scripts/build-base-image.sh" "$SUITE")"
BASE_ID="$("${PODMAN_CMD[@]}" image inspect --format '{{.Id}}' "$BASE")"
KEY="$(
  { echo "$RECIPE $MINOR $BASE_ID"; sha256sum "$PREFIX/bin/python$MINOR" "$LIBPYTHON" | cut -c1-64; } |
    sha256sum | cut -c1-12
)"
TAG="localhost/oq-elastic-base:${SUITE}-py${MINOR/./}-${KEY}"
if "${PODMAN_CMD[@]}" image exists "$TAG"; then
  echo "$TAG"
  exit 0
fi

CONTEXT="$(mktemp -d)"
trap 'rm -rf "$CONTEXT"' EXIT
log "packing $PREFIX ($("$PREFIX/bin/python$MINOR" -V 2>&1)) onto $BASE"
STDLIB="lib/python$MINOR"
# Left out: the test suite, IDLE and Tk (no display), the static library, the prefix's own site-packages (pip
# and whatever the host added; the worker's venv brings its own) and scripts whose shebang names the host path.
tar -C "$PREFIX" --numeric-owner --owner=0 --group=0 \
  --exclude="./$STDLIB/test" --exclude="./$STDLIB/idlelib" --exclude="./$STDLIB/tkinter" \
  --exclude="./$STDLIB/turtledemo" --exclude="./$STDLIB/lib2to3/tests" --exclude="./$STDLIB/site-packages/*" \
  --exclude="./$STDLIB/lib-dynload/_tkinter.*" --exclude="./$STDLIB/lib-dynload/_test*" \
  --exclude='*/libpython*.a' --exclude='__pycache__' --exclude='./share' \
  --exclude='./bin/pip*' --exclude='./bin/idle*' --exclude='./bin/2to3*' --exclude='./bin/pydoc*' \
  --exclude='./bin/*-gdb.py' \
  -cf "$CONTEXT/python.tar" .
# The modules the engine, celery and pip need; ldd must resolve each one's libraries in the base.
MODULES="_ssl _hashlib _ctypes _sqlite3 _bz2 _lzma zlib _uuid pyexpat _decimal _multiprocessing _posixshmem"
cat >"$CONTEXT/Containerfile" <<EOF
FROM $BASE
ADD python.tar /usr/local/
RUN set -eu; ldconfig; \\
    missing="\$(ldd /usr/local/bin/python$MINOR | grep 'not found' || true)"; \\
    for m in $MODULES; do \\
      so="\$(ls /usr/local/$STDLIB/lib-dynload/\$m.*.so)"; \\
      missing="\$missing\$(ldd "\$so" | sed -n "s|^\t*\(.*not found\)|\$m: \1|p")"; \\
    done; \\
    if [ -n "\$missing" ]; then echo "shared libraries missing in the base: \$missing" >&2; exit 1; fi; \\
    python3 -c "import sys, $(echo "$MODULES" | tr ' ' ','), venv, ensurepip; assert sys.version_info[:2] == (${MINOR%%.*}, ${MINOR#*.})"
EOF
"${PODMAN_CMD[@]}" build --quiet --format docker -t "$TAG" -f "$CONTEXT/Containerfile" "$CONTEXT" >/dev/null
echo "$TAG"
