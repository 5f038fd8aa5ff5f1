#!/usr/bin/env bash
# Installs everything the demo, the tests and CI need, idempotently: Debian packages (RabbitMQ, podman,
# debootstrap, shellcheck, gcc), a Python virtual environment in .venv (celery, moto, cfn-lint), one for
# checkov in .venv-checkov, the pinned OpenQuake Engine in .engine-venv (Python 3.8, engine-release.json, the
# master's constraints file) and the npm packages. Each step is skipped when what it installs is already there
# and unchanged.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# gcc and libc6-dev: psutil < 5.7, which engine 3.11 requires, has no Linux wheel and compiles.
DEBIAN_PACKAGES=(rabbitmq-server podman runc debootstrap shellcheck uidmap curl ca-certificates gcc libc6-dev)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's package may start a system RabbitMQ on every interface; the project runs its own on loopback.
if pgrep -f 'rabbit.*-sname rabbit@' >/dev/null 2>&1 && command -v service >/dev/null; then
  service rabbitmq-server stop >/dev/null 2>&1 || true
fi

stamp() { sha256sum "$@" | sha256sum | cut -c1-16; }

if [[ ! -x .venv/bin/python ]]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
want="$(stamp requirements-dev.txt)"
if [[ "$(cat .venv/.installed 2>/dev/null)" != "$want" ]]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" >.venv/.installed
fi

bash scripts/setup-engine-env.sh

# checkov in an environment of its own: its pins (boto3, packaging) would downgrade what .venv's tools use.
if [[ ! -x .venv-checkov/bin/python ]]; then
  echo "setup: creating .venv-checkov"
  python3 -m venv .venv-checkov
fi
want="$(stamp requirements-checkov.txt)"
if [[ "$(cat .venv-checkov/.installed 2>/dev/null)" != "$want" ]]; then
  echo "setup: installing checkov into .venv-checkov"
  .venv-checkov/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt
  echo "$want" >.venv-checkov/.installed
fi

# The lock alone: its root entry repeats package.json's dependencies (npm ci refuses a lock out of step with
# them), so editing package.json's scripts never reinstalls; `npm test` and `npm run demo` run this script first.
want="$(stamp package-lock.json)"
if [[ "$(cat node_modules/.installed 2>/dev/null)" != "$want" ]]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >node_modules/.installed
fi
echo "setup: done"
