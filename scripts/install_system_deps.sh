#!/usr/bin/env bash
# Installs the system packages the rule-engine baselines and evasion tests need (Debian bookworm):
#   nginx + libnginx-mod-http-modsecurity + modsecurity-crs  -> OWASP CRS 3.3 in ModSecurity v3
#   sqlmap                                                   -> tamper scripts for evasion tests
#   strace                                                   -> the trace-recording recipe of sequence
#                                                               learning (benchmarks/traces/record.py)
#   chromium + chromium-driver (+ fonts-wqy-microhei: CJK)   -> the web console test in a real headless
#                                                               browser (tests/test_console_browser.py)
#   default-jre-headless                                     -> Java 17 for PySpark (`scan --engine spark`)
# Non-interactive and idempotent: does nothing when everything is installed already. Must run as
# root (or with sudo available). Leaves no nginx running on port 80: secllm starts its own private
# nginx on 127.0.0.1 when it needs one.
#
#   sudo bash scripts/install_system_deps.sh
set -euo pipefail

PACKAGES=(nginx libnginx-mod-http-modsecurity modsecurity-crs sqlmap strace chromium chromium-driver fonts-wqy-microhei
          default-jre-headless)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo -n)
else
  echo "install_system_deps.sh: needs root (or sudo) to install: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  # "install ok installed" is dpkg's state for a fully configured package.
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done

# Was the system nginx already running before this script? Then it is someone's service: leave it.
# (Its pid file, not `pgrep nginx`: secllm's own private nginx instances share the name.)
system_nginx_running() {
  [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" >/dev/null 2>&1
}
nginx_was_running=0
if system_nginx_running; then
  nginx_was_running=1
fi

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install_system_deps.sh: already installed: ${PACKAGES[*]}"
else
  echo "install_system_deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep existing config files on upgrades, never prompt.
  APT_OPTS=(-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install "${APT_OPTS[@]}" --no-install-recommends "${missing[@]}"
fi

# Installing nginx may have started its default site on port 80 (systemd or sysvinit postinst).
# Stop it, unless it ran before this script; a container without an init system is fine too.
installed_nginx=0
for pkg in "${missing[@]}"; do
  case "$pkg" in nginx|libnginx-mod-http-modsecurity) installed_nginx=1 ;; esac
done
if [ "$installed_nginx" -eq 1 ] && [ "$nginx_was_running" -eq 0 ]; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    "${SUDO[@]}" systemctl stop nginx >/dev/null 2>&1 || true
    "${SUDO[@]}" systemctl disable nginx >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/nginx ]; then
    "${SUDO[@]}" /etc/init.d/nginx stop >/dev/null 2>&1 || true
  fi
  if system_nginx_running; then  # no init system answered: signal the daemon it started
    "${SUDO[@]}" kill -QUIT "$(cat /run/nginx.pid)" >/dev/null 2>&1 || true
  fi
fi

# Sanity check that the pieces secllm uses are where it looks for them.
for f in /usr/lib/nginx/modules/ngx_http_modsecurity_module.so \
         /usr/share/modsecurity-crs/rules/REQUEST-901-INITIALIZATION.conf; do
  if [ ! -e "$f" ]; then
    echo "install_system_deps.sh: expected file missing after install: $f" >&2
    exit 1
  fi
done
if ! command -v java >/dev/null 2>&1; then
  echo "install_system_deps.sh: java not on PATH after installing default-jre-headless" >&2
  exit 1
fi
echo "install_system_deps.sh: ok ($(dpkg-query -W -f='${Package} ${Version}\n' modsecurity-crs))"
