#!/usr/bin/env bash
# Builds the worker image with podman, idempotently, and prints its tag.
#
#   scripts/build-worker-image.sh            local image for tests and the demo: a debootstrap Debian base
#                                            (scripts/build-base-image.sh) and the engine-like test app;
#                                            prints localhost/oq-elastic-worker:test
#   scripts/build-worker-image.sh engine     the production image: the public Python base of the pinned
#                                            engine's Python and the pinned engine; prints
#                                            localhost/oq-elastic-worker:<engine version>
#   scripts/build-worker-image.sh engine-local  the production image's contents (pinned engine, its Python) on a
#                                            base whose Python the host built (scripts/build-host-python-base.sh);
#                                            prints localhost/oq-elastic-worker:<engine version>-local
#   scripts/build-worker-image.sh engine-py39  a probe: engine 3.15.0 on a debootstrap bullseye base (Python
#                                            3.9), to run real engine tasks on a machine without registry
#                                            access; prints localhost/oq-elastic-worker:engine-3.15.0-py39
#
# The image is also tagged with a hash of everything that goes into it (the Dockerfile, the entrypoint, the test
# app, engine-release.json, the base and the build arguments), and a run whose hash is already built only re-tags
# it; tags of earlier builds of the same target are removed. Concurrent runs wait for each other. Environment: OQE_WORKER_BASE (base image; overrides the default),
# OQE_WORKER_TAG (the tag to print), PODMAN (default: podman with runc and cgroupfs).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONTEXT="$ROOT/worker-image"
TARGET="${1:-local}"
read -r -a PODMAN_CMD <<<"${PODMAN:-podman --runtime runc --cgroup-manager=cgroupfs}"
CACHE="${OQE_IMAGE_CACHE:-/var/cache/oq-elastic}"
REPO=localhost/oq-elastic-worker

log() { echo "build-worker-image: $*" >&2; }

pin() { sed -n "s/^ *\"$1\": *\"\([^\"]*\)\".*/\1/p" "$ROOT/contract/engine-release.json"; }
ENGINE_VERSION="$(pin engine)"
CELERY_VERSION="$(pin celery)"
PYTHON_VERSION="$(pin python)"
[[ -n "$ENGINE_VERSION" && -n "$CELERY_VERSION" && -n "$PYTHON_VERSION" ]] ||
  { log "error: engine-release.json lacks engine, celery or python"; exit 1; }
# The test app runs on the celery of the project's own virtual environment (requirements-dev.txt).
TESTAPP_CELERY_VERSION="$(sed -n 's/^celery==\([^ ;]*\).*/\1/p' "$ROOT/requirements-dev.txt" | head -n 1)"
TESTAPP_CELERY_VERSION="${TESTAPP_CELERY_VERSION:-5.5.3}"

mkdir -p "$CACHE"
exec 9>"$CACHE/worker-image.lock"
flock 9

ENGINE_CONSTRAINTS=engine-constraints.txt
case "$TARGET" in
  local)
    BASE="${OQE_WORKER_BASE:-$("$ROOT/scripts/build-base-image.sh")}"
    TASK_APP=testapp
    TAG="${OQE_WORKER_TAG:-$REPO:test}"
    ;;
  engine)
    BASE="${OQE_WORKER_BASE:-python:${PYTHON_VERSION}-slim-bookworm}"
    TASK_APP=engine
    TAG="${OQE_WORKER_TAG:-$REPO:$ENGINE_VERSION}"
    ;;
  engine-local)
    # The pinned engine on a Python the host built (pyenv), packed onto the debootstrap base by
    # build-host-python-base.sh: the production image's contents on a machine that cannot pull python:3.8.
    # Exit code 3 (from that script) when this host has no such Python.
    BASE="${OQE_WORKER_BASE:-$("$ROOT/scripts/build-host-python-base.sh" "$PYTHON_VERSION")}" || exit $?
    TASK_APP=engine
    TAG="${OQE_WORKER_TAG:-$REPO:$ENGINE_VERSION-local}"
    ;;
  engine-py39)
    # A probe, not the pin: engine 3.15.0 (the last celery-capable release whose dependencies have wheels for
    # Python 3.9) on Debian bullseye, so that a real engine task can run through a worker container here.
    BASE="${OQE_WORKER_BASE:-$("$ROOT/scripts/build-base-image.sh" bullseye)}"
    TASK_APP=engine
    ENGINE_VERSION=3.15.0
    ENGINE_CONSTRAINTS=engine-probe/constraints-3.15-py39.txt
    TAG="${OQE_WORKER_TAG:-$REPO:engine-$ENGINE_VERSION-py39}"
    ;;
  *)
    log "error: unknown target '$TARGET': use local (default), engine, engine-local or engine-py39"
    exit 64
    ;;
esac

BUILD_ARGS=(
  --build-arg "BASE_IMAGE=$BASE" --build-arg "TASK_APP=$TASK_APP" --build-arg "ENGINE_CONSTRAINTS=$ENGINE_CONSTRAINTS"
  --build-arg "ENGINE_VERSION=$ENGINE_VERSION" --build-arg "CELERY_VERSION=$CELERY_VERSION"
  --build-arg "TESTAPP_CELERY_VERSION=$TESTAPP_CELERY_VERSION"
)
# Behind a TLS-inspecting proxy, pip in the build stage needs the host's CA bundle: mount it for the build only.
BUILD_VOLUMES=()
HOST_CA="${PIP_CERT:-${REQUESTS_CA_BUNDLE:-}}"
if [[ -n "$HOST_CA" && -r "$HOST_CA" ]]; then
  BUILD_VOLUMES=(-v "$HOST_CA:/etc/oq-build/ca.crt:ro")
  BUILD_ARGS+=(--build-arg "PIP_CERT=/etc/oq-build/ca.crt")
fi
HASH="$(
  {
    printf '%s\n' "${BUILD_ARGS[@]}"
    "${PODMAN_CMD[@]}" image inspect --format '{{.Id}}' "$BASE" 2>/dev/null || echo "$BASE"
    cd "$CONTEXT" && find Dockerfile engine-constraints.txt engine-probe entrypoint celery4-shim testapp/oq_testapp.py -type f -not -name '*.pyc' | LC_ALL=C sort |
      xargs sha256sum
    sha256sum "$ROOT/contract/engine-release.json" | cut -c1-64
  } | sha256sum | cut -c1-12
)"
HASH_TAG="$REPO:build-$TARGET-$HASH"

if ! "${PODMAN_CMD[@]}" image exists "$HASH_TAG"; then
  log "building $HASH_TAG from $BASE"
  start=$SECONDS
  # Host network: pip in the build stage reaches the package index; --format docker keeps the HEALTHCHECK.
  "${PODMAN_CMD[@]}" build --quiet --network host --format docker --layers \
    "${BUILD_VOLUMES[@]}" "${BUILD_ARGS[@]}" -t "$HASH_TAG" -f "$CONTEXT/Dockerfile" "$CONTEXT" >/dev/null
  log "built in $((SECONDS - start)) s"
fi
"${PODMAN_CMD[@]}" tag "$HASH_TAG" "$TAG"
# Drop the tags of earlier builds of this kind; an image still used by a container stays (rmi refuses).
for old in $("${PODMAN_CMD[@]}" images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$REPO:build-$TARGET-*"); do
  # The filter selects images, and podman then lists every name of each, so match the name here too.
  [[ "$old" == "$REPO:build-$TARGET-"* && "$old" != "$HASH_TAG" ]] || continue
  "${PODMAN_CMD[@]}" rmi "$old" >/dev/null 2>&1 || true
done
echo "$TAG"
