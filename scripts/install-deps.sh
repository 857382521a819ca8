#!/usr/bin/env bash
# Install what tongdai needs on Debian 12, only what is missing. Idempotent and quick when all is there.
#   scripts/install-deps.sh run    packages to run tongdai
#   scripts/install-deps.sh test   packages to run the test suite as well
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_PKGS="rtpengine-daemon espeak-ng sox ffmpeg"
TEST_PKGS="sip-tester baresip postgresql chromium firefox-esr tshark fonts-wqy-zenhei"  # the font: Chinese in screenshots

want="$RUN_PKGS"
[ "${1:-run}" = "test" ] && want="$RUN_PKGS $TEST_PKGS"

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "tongdai: installing Debian packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The virtualenv with the project; rebuilt only when pyproject.toml changed.
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.tongdai-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "tongdai: installing Python dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi
