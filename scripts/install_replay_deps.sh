#!/usr/bin/env bash
# Installs what the incident replay benchmark (benchmarks/incidents_replay.py) needs; CI does not.
#   Debian (bookworm): nginx + libnginx-mod-http-modsecurity + modsecurity-crs (the site and the CRS baseline),
#                      sqlmap, wapiti, wfuzz (the attack tools), curl, chromium + chromium-driver (benign browsers)
#   PyPI (into the Python given by $PYTHON, default .venv/bin/python or python3): selenium (drives chromium)
# Non-interactive and idempotent. Must run as root (or with sudo). Like install_system_deps.sh, it
# leaves no nginx running on port 80: the benchmark starts its own private nginx on 127.0.0.1.
#
#   sudo bash scripts/install_replay_deps.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(nginx libnginx-mod-http-modsecurity modsecurity-crs sqlmap wapiti wfuzz curl chromium chromium-driver)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "install_replay_deps.sh: needs root (or sudo) to install: ${PACKAGES[*]}" >&2
  exit 1
fi

system_nginx_running() {
  [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" >/dev/null 2>&1
}
nginx_was_running=0
system_nginx_running && nginx_was_running=1

missing=()
for pkg in "${PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_replay_deps.sh: already installed: ${PACKAGES[*]}"
else
  echo "install_replay_deps.sh: installing ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
fi

# a freshly installed nginx may have started its default site: stop it unless it ran before
if [ "$nginx_was_running" -eq 0 ] && system_nginx_running; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl stop nginx >/dev/null 2>&1 || true
  else
    "${SUDO[@]}" kill -QUIT "$(cat /run/nginx.pid)" >/dev/null 2>&1 || true
  fi
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
"$PY" -m pip install -q "selenium>=4.20"

for f in /usr/lib/nginx/modules/ngx_http_modsecurity_module.so /usr/share/modsecurity-crs/rules/REQUEST-901-INITIALIZATION.conf \
         /usr/bin/sqlmap /usr/bin/wapiti /usr/bin/wfuzz /usr/bin/chromium /usr/bin/chromedriver \
         /usr/share/wfuzz/wordlist/general/common.txt /usr/share/wfuzz/wordlist/others/common_pass.txt; do
  if [ ! -e "$f" ]; then
    echo "install_replay_deps.sh: expected file missing after install: $f" >&2
    exit 1
  fi
done
echo "install_replay_deps.sh: ok ($("$PY" -c 'import selenium; print("selenium", selenium.__version__)'))"
