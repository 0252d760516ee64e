#!/usr/bin/env bash
# Installs what the ordinary-data recipe (python -m secllm.data.ordinary build) reads or runs.
# Not needed by the tests or by any shipped feature: only to rebuild the corpus of issue 17 §3.
#
#   sudo bash scripts/install_corpus_deps.sh          # Debian packages + selenium + npm libraries
#
# Debian (bookworm): the browsing session (nginx, chromium, chromium-driver, tcpdump), the
# documentation and code it reads (python3-doc, manpages, manpages-zh, groff-base, iso-codes,
# wamerican, PHP libraries, JavaScript libraries). PyPI: selenium (drives Chromium). npm: a few
# popular JavaScript libraries, installed (scripts not run) into $SECLLM_CORPUS_SRC/npm
# (default ~/.secllm/corpus-src/npm), where the recipe reads them in place.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(nginx chromium chromium-driver tcpdump python3-doc manpages manpages-zh groff-base iso-codes wamerican
      libphp-phpmailer php-getid3 php-phpseclib libphp-adodb
      libjs-jquery libjs-underscore libjs-bootstrap4 libjs-jquery-ui nodejs npm)
# Exact versions, so a rebuild reads the same JavaScript.
NPM_PKGS=(axios@1.21.1 bootstrap@5.3.9 chalk@5.6.2 chart.js@4.6.1 commander@14.0.3 d3@7.9.2 express@5.3.0
          handlebars@4.7.10 jquery@4.0.0 lodash@4.18.1 marked@18.2.1 moment@2.31.0 react@19.3.1
          react-dom@19.3.1 underscore@1.13.8 vue@3.5.45)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); fi

missing=()
for pkg in "${DEBS[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
    # node/npm may come from another source (nodesource): only install them when absent.
    if { [ "$pkg" = nodejs ] && command -v node >/dev/null; } || { [ "$pkg" = npm ] && command -v npm >/dev/null; }; then
      continue
    fi
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install_corpus_deps.sh: installing ${missing[*]}"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
  # The nginx package may start its default site: the recipe runs its own private nginx.
  if [ -x /etc/init.d/nginx ]; then "${SUDO[@]}" /etc/init.d/nginx stop >/dev/null 2>&1 || true; fi
fi

PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
"$PY" -m pip install -q "selenium>=4.20"

SRC=${SECLLM_CORPUS_SRC:-${SECLLM_HOME:-$HOME/.secllm}/corpus-src}
mkdir -p "$SRC/npm"
npm install --prefix "$SRC/npm" --no-audit --no-fund --ignore-scripts --save-exact "${NPM_PKGS[@]}" >/dev/null
echo "install_corpus_deps.sh: ok (npm libraries in $SRC/npm/node_modules)"
