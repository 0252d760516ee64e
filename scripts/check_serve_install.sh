#!/usr/bin/env bash
# A server install carries no training stack: `pip install ".[serve]"` into a fresh virtualenv must
# not bring torch, and the shipped model (its int8 ONNX graph) must then judge items through the
# CLI and through the real REST API. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
V="$(mktemp -d)/venv"
"$PY" -m venv "$V"
"$V/bin/python" -m pip install -q --upgrade pip
"$V/bin/python" -m pip install -q ".[serve]"
if "$V/bin/python" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('torch') else 1)"; then
  echo "FAIL: pip install .[serve] installed torch" >&2
  exit 1
fi
"$V/bin/secllm" detect --json --kind payload "1' union select password from users--" | "$V/bin/python" -c '
import json, sys
r = json.loads(sys.stdin.read().splitlines()[0])
assert r["status"] == "ok" and r["label"] == "malicious", r
print("detect without torch:", r["label"], r["attack_type"], round(r["score"], 4))'
"$V/bin/python" -c '
from secllm.detect.detector import WebAttackDetector
d = WebAttackDetector.load(None, backend="onnx-int8")
assert d.lexical is not None and d.fast is not None, "the shipped cascade did not load without torch"
print("cascade without torch:", d.lexical.backend.name, "->", d.fast.backend.name, "->", d.backend.name)'
"$V/bin/python" -c '
from secllm.detect.generic import TaskDetector
from secllm.paths import DEFAULT_TASKS_DIR
from secllm.tasks.heads import served_head
served = [t for t in ("cti-attack", "evtx-tactic", "log-bgl") if served_head(DEFAULT_TASKS_DIR, t)]
assert served, "no lexical task head is served by the shipped tasks directory"
for t in served:
    d = TaskDetector.load(DEFAULT_TASKS_DIR, task=t)
    r = d.detect(["RAS KERNEL FATAL data TLB error interrupt"])[0]
    # a text head without torch serves its char n-gram half (numpy) alone
    assert (d.backend.name == "lexical" or getattr(d.backend, "halves", None) == ["char"]) and r.status == "ok", (t, r)
print("lexical/text task heads without torch:", ", ".join(f"{t} ({TaskDetector.load(DEFAULT_TASKS_DIR, task=t).backend.name})" for t in served))'
"$V/bin/python" - "$V/bin/secllm" <<'PYEOF'
import json, socket, subprocess, sys, time, urllib.request

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
proc = subprocess.Popen([sys.argv[1], "serve", "--port", str(port)])
base = f"http://127.0.0.1:{port}"
try:
    for _ in range(120):
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    body = json.dumps({"items": [{"text": "<script>alert(1)</script>", "kind": "payload"}, {"text": "john"}]}).encode()
    req = urllib.request.Request(base + "/v1/detect", body, {"content-type": "application/json"})
    res = json.load(urllib.request.urlopen(req, timeout=30))["results"]
    assert [r["status"] for r in res] == ["ok", "ok"], res
    assert res[0]["label"] == "malicious" and res[1]["label"] == "benign", res
    models = json.load(urllib.request.urlopen(base + "/v1/models", timeout=10))
    print("serve without torch:", res[0]["label"], res[0]["attack_type"], "|", json.dumps(models)[:160])
finally:
    proc.terminate()
    proc.wait(10)
PYEOF
echo "OK: server install without torch"
