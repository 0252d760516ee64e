"""Golden tests of the shipped default model: it loads offline from the package and gets the
obvious cases right. (Accuracy is measured by benchmarks/web_attack.py, not here.)"""

import pytest

from secllm.detect.detector import WebAttackDetector
from secllm.model.modeling import read_meta
from secllm.paths import DEFAULT_MODEL_DIR


@pytest.fixture(scope="module")
def det():
    return WebAttackDetector.load()


def test_shipped_model_is_a_small_safetensors_classifier():
    meta = read_meta(DEFAULT_MODEL_DIR)
    assert meta["kind"] == "classifier" and meta["task"] == "web-attack"
    assert meta["init"].startswith("pretrained")
    size = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir())
    assert size < 40 * 2**20
    assert not [p for p in DEFAULT_MODEL_DIR.iterdir() if p.suffix in (".bin", ".pt", ".pkl", ".pickle")]


@pytest.mark.parametrize("text,attack", [
    ("1' UNION SELECT username, password FROM users--", "sqli"),
    ("<script>alert(document.cookie)</script>", "xss"),
    ("/download.php?file=..%2F..%2F..%2Fetc%2Fpasswd", "path-traversal"),
    ("/search?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E", "xss"),
])
def test_obvious_attacks_are_flagged(det, text, attack):
    (r,) = det.detect([text])
    assert r.label == "malicious", r
    assert r.attack_type == attack, r
    assert r.evidence and all(text[e.start:e.end] == e.text for e in r.evidence)


@pytest.mark.parametrize("text", [
    "q=wireless+headphones&page=2",
    "/blog/2023/05/hello-world",
    "john.smith",
])
def test_plain_inputs_are_benign(det, text):
    (r,) = det.detect([text])
    assert r.label == "benign", r


def test_demo_command_runs():
    from click.testing import CliRunner

    from secllm.cli import main

    r = CliRunner().invoke(main, ["demo", "--json"])
    assert r.exit_code == 0, r.output
    assert r.stdout.count('"status": "ok"') == 6


def test_shipped_int8_graph_agrees_with_the_weights(det):
    """The shipped int8 ONNX graph (what a torch-free server runs) gives the same verdicts."""
    from secllm.runtime import resolve_backend

    assert resolve_backend(DEFAULT_MODEL_DIR, "auto") == "onnx-int8"
    onnx = WebAttackDetector.load(backend="onnx-int8")
    items = ["1' UNION SELECT username, password FROM users--", "<script>alert(document.cookie)</script>",
             "/download.php?file=..%2F..%2F..%2Fetc%2Fpasswd", "q=wireless+headphones&page=2", "john.smith",
             "GET /a?id=1%20or%201=1 HTTP/1.1\r\nHost: h\r\n\r\n"]
    a, b = det.detect(items, evidence=False), onnx.detect(items, evidence=False)
    assert [r.label for r in a] == [r.label for r in b]
    assert [r.attack_type for r in a] == [r.attack_type for r in b]
    assert max(abs(x.score - y.score) for x, y in zip(a, b)) < 0.05
