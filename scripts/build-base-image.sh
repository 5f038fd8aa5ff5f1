#!/usr/bin/env bash
# Builds a minimal Debian root filesystem with debootstrap and imports it into podman as a local base image, for
# building the worker image on machines that cannot pull from a container registry (CI, the test machine).
#
#   scripts/build-base-image.sh [SUITE]      prints the image tag, e.g. localhost/oq-elastic-base:bookworm-3f2a...
#
# The root filesystem is cached as a tarball under $OQE_IMAGE_CACHE (default /var/cache/oq-elastic), keyed by every
# input (suite, variant, package list, mirror, architecture, recipe version), so a second run only re-imports it, and a
# run with the image already in podman does nothing. The Debian mirror is read from apt's configured sources at run
# time (override with OQE_DEBIAN_MIRROR), so no host name is written here.
#
# Environment: OQE_BASE_SUITE (default bookworm), OQE_BASE_PACKAGES (space list; default: what the worker image's
# build and run stages need), OQE_DEBIAN_MIRROR, OQE_IMAGE_CACHE, PODMAN (default: podman with runc and cgroupfs).
set -euo pipefail

SUITE="${1:-${OQE_BASE_SUITE:-bookworm}}"
VARIANT=minbase
# python3-venv brings ensurepip's wheels, which the build stage uses to create the virtual environment; nothing
# here compiles, so no compiler is installed (the worker's Python dependencies install from wheels).
PACKAGES="${OQE_BASE_PACKAGES:-python3 python3-venv ca-certificates}"
CACHE="${OQE_IMAGE_CACHE:-/var/cache/oq-elastic}"
read -r -a PODMAN_CMD <<<"${PODMAN:-podman --runtime runc --cgroup-manager=cgroupfs}"
ARCH="$(dpkg --print-architecture)"

log() { echo "build-base-image: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# The first deb URI of the main Debian archive among apt's sources (deb822 .sources files or one-line .list files).
apt_mirror() {
  local files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  local f uri
  for f in "${files[@]}"; do
    [[ -r "$f" ]] || continue
    uri="$(awk '
      /^[[:space:]]*deb[[:space:]]/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }
      /^URIs:/ { for (i = 2; i <= NF; i++) print $i }
    ' "$f" | grep -E '/debian/?$' | grep -v -- '-security' | head -n 1 || true)"
    if [[ -n "$uri" ]]; then
      echo "${uri%/}"
      return 0
    fi
  done
  return 1
}

MIRROR="${OQE_DEBIAN_MIRROR:-$(apt_mirror || true)}"
[[ -n "$MIRROR" ]] || die "no Debian mirror found in apt's sources; set OQE_DEBIAN_MIRROR to the mirror's /debian URL"

# Bump when the way the root filesystem is made changes, so caches made the old way are not reused.
RECIPE=1
KEY="$(printf '%s\n' "$SUITE" "$VARIANT" "$PACKAGES" "$MIRROR" "$ARCH" "$RECIPE" | sha256sum | cut -c1-12)"
TAG="localhost/oq-elastic-base:${SUITE}-${KEY}"
TARBALL="$CACHE/base-${SUITE}-${KEY}.tar"

if "${PODMAN_CMD[@]}" image exists "$TAG"; then
  echo "$TAG"
  exit 0
fi

if [[ ! -s "$TARBALL" ]]; then
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root; run as root or provide $TARBALL"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  mkdir -p "$CACHE"
  ROOTFS="$(mktemp -d "$CACHE/rootfs.XXXXXX")"
  trap 'rm -rf "$ROOTFS"' EXIT
  log "debootstrap $SUITE ($VARIANT, $ARCH) with: $PACKAGES"
  debootstrap --variant="$VARIANT" --arch="$ARCH" --include="${PACKAGES// /,}" \
    "$SUITE" "$ROOTFS" "$MIRROR" >"$CACHE/debootstrap-${SUITE}-${KEY}.log" 2>&1 ||
    die "debootstrap failed; see $CACHE/debootstrap-${SUITE}-${KEY}.log"
  # Package lists and caches are not needed at run time and only add size.
  rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/*
  tar --numeric-owner -C "$ROOTFS" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  rm -rf "$ROOTFS"
  trap - EXIT
fi

log "importing $TARBALL as $TAG"
"${PODMAN_CMD[@]}" import --quiet --change 'CMD ["/bin/bash"]' "$TARBALL" "$TAG" >/dev/null
echo "$TAG"
