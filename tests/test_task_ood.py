"""The open-world gate of the task detectors (secllm.detect.ood, issue 17 §2): mechanism, files, threshold."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from secllm.detect.ood import OOD_JSON, OodGate, calib_half, fit_gate_backend, is_alert, load_gate, pick_threshold
from secllm.paths import DEFAULT_TASKS_DIR

ORDINARY = ["https://www.wikipedia.org/wiki/Main_Page", "https://docs.python.org/3/library/re.html",
            "https://github.com/pallets/flask", "https://nginx.org/en/docs/", "https://www.debian.org/",
            "https://pypi.org/project/requests/", "https://developer.mozilla.org/en-US/docs/Web"]
TASKLIKE = ["paypal.com.secure-login.example.ru/x/verify", "free-gift-card.win/claim.php?id=88",
            "bit.ly/2xYz", "update-account-info.tk/signin", "mail.ru.securelogon.cn/index.htm",
            "download-now.exe.biz/setup.exe", "login-apple-id.ga/auth"]


def _model_dir(tmp_path: Path) -> Path:
    """The shipped task directory's tokenizer + url lexical head, without its gate (symlinks)."""
    src = DEFAULT_TASKS_DIR
    if not (src / "lexical" / "url" / "lexical.safetensors").is_file():
        pytest.skip("shipped task assets missing")
    d = tmp_path / "m"
    (d / "lexical" / "url").mkdir(parents=True)
    for f in ("secllm.json", "config.json", "tokenizer.json"):
        (d / f).symlink_to(src / f)
    for f in ("lexical.safetensors", "secllm.json"):
        (d / "lexical" / "url" / f).symlink_to(src / "lexical" / "url" / f)
    return d


def test_pick_threshold_keeps_alerts_within_target():
    rng = np.random.default_rng(0)
    scores, alerts = rng.random(1000), rng.random(1000) < 0.3
    for target in (0.0, 0.004, 0.05):
        t = pick_threshold(scores, alerts, target)
        assert (alerts & (scores < t)).mean() <= target + 1e-12
        # the highest such threshold: a hair higher lets one more alert through
        if t <= 1.0:
            assert (alerts & (scores < t + 1e-9)).sum() > np.floor(target * 1000)
    assert pick_threshold(scores, np.zeros(1000, bool), 0.004) > 1.0      # nothing to gate


def test_calib_half_is_stable_and_balanced():
    halves = [calib_half(f"group-{i}") for i in range(2000)]
    assert halves == [calib_half(f"group-{i}") for i in range(2000)]
    assert 0.45 < halves.count("fit") / 2000 < 0.55


def test_is_alert_per_task():
    from secllm.tasks.registry import get_task

    assert is_alert(get_task("url"), "phishing") and not is_alert(get_task("url"), "benign")
    assert is_alert(get_task("traffic"), "Zeus") and not is_alert(get_task("traffic"), "Skype")
    assert is_alert(get_task("cti-attack"), "T1027") and not is_alert(get_task("cti-attack"), "unknown")


def test_gate_overrides_verdict_and_round_trips(tmp_path):
    from secllm.detect.generic import TaskDetector
    from secllm.tasks.heads import head_dir

    d = _model_dir(tmp_path)
    det = TaskDetector.load(d, task="url", head="lexical")
    assert det.gate is None                                           # no ood.json: as before
    _, _, _, enc_o = det.encode(ORDINARY * 3)
    _, _, _, enc_t = det.encode(TASKLIKE * 3)
    backend = fit_gate_backend(enc_t.input_ids, enc_o.input_ids, det.tok.vocab_size, C=10.0, n_buckets=1 << 10)
    gate = OodGate(backend, 0.5, "benign", {"task": "url"})
    g_o, g_t = gate.score(enc_o.input_ids), gate.score(enc_t.input_ids)
    assert g_o.min() > 0.5 > g_t.max()                                # it separates what it was fitted on
    gate.save(head_dir(d, "url"))
    meta = json.loads((head_dir(d, "url") / OOD_JSON).read_text())
    assert meta["kind"] == "ood-gate" and meta["outcome"] == "benign" and meta["threshold"] == 0.5
    assert not list(head_dir(d, "url").glob("*.pkl"))

    loaded = load_gate(head_dir(d, "url"))
    assert np.allclose(loaded.score(enc_o.input_ids), g_o, atol=2e-3)   # float16 weights on disk
    det = TaskDetector.load(d, task="url", head="lexical")
    assert det.gate is not None
    raw = TaskDetector.load(d, task="url", head="lexical", ood=False)
    assert raw.gate is None
    before = raw.detect(ORDINARY + TASKLIKE, evidence=False)
    after = det.detect(ORDINARY + TASKLIKE + ["", 42], evidence=True)
    alerts = [b for b in before[:len(ORDINARY)] if b.label == "malicious"]
    assert alerts, "the head alerts on none of the ordinary URLs: nothing to test"
    for b, a in zip(before[:len(ORDINARY)], after):
        assert a.label == "benign" and a.attack_type is None and a.attack_types == []
        if b.label == "malicious":                                     # an alert withdrawn, and why
            assert a.details["ood"]["gated"] and a.details["ood"]["model_label"] == b.attack_type
            assert "ordinary" in a.details["ood"]["reason"] and not a.evidence
        else:                                                          # no alert: the gate is not consulted
            assert "ood" not in a.details
    for b, a in zip(before[len(ORDINARY):], after[len(ORDINARY):len(ORDINARY) + len(TASKLIKE)]):
        assert not a.details.get("ood", {}).get("gated") and (a.label, a.attack_type) == (b.label, b.attack_type)
    assert [r.status for r in after[-2:]] == ["empty", "bad_input"]     # bad items stay data
    assert json.dumps(after[0].to_json())                              # details serialise


def test_gate_without_benign_class_says_unknown(tmp_path):
    """A task without a benign class (traffic, CTI) reports the gate's outcome and its score."""
    from secllm.detect.generic import TaskDetector
    from secllm.tasks.registry import get_task

    d = _model_dir(tmp_path)
    det = TaskDetector.load(d, task="url", head="lexical")
    _, _, _, enc = det.encode(ORDINARY)
    det.gate = OodGate(fit_gate_backend(enc.input_ids[:3], enc.input_ids[3:], det.tok.vocab_size,
                                        n_buckets=1 << 8), 0.0, "unknown")        # threshold 0: every item gated
    det.benign_idx = None                                               # as traffic / cti-attack
    det.spec = dataclasses.replace(get_task("url"), benign_label=None,   # url's preparation, traffic's verdicts
                                   malicious_labels=("Zeus", "Geodo"))
    det.labels = ["Skype", "Zeus", "Geodo", "Gmail"]                   # four columns, as the url head's
    r = det.detect(ORDINARY, evidence=False)
    for x in r:
        if "ood" in x.details:                                          # a malware family was withdrawn
            assert x.label == "unknown" and x.attack_type is None
            assert x.details["ood"]["model_label"] in ("Zeus", "Geodo")
            assert x.score == pytest.approx(x.details["ood"]["ordinary_score"], abs=1e-6)
        else:
            assert x.label in ("Skype", "Gmail")
    assert any("ood" in x.details for x in r)


def test_shipped_url_gate_on_ordinary_home_pages():
    """The shipped url gate: the issue's ordinary URLs are not phishing; an obvious lure still alerts."""
    from secllm.detect.generic import TaskDetector

    if load_gate(DEFAULT_TASKS_DIR / "lexical" / "url") is None:
        pytest.skip("no shipped url gate")
    det = TaskDetector.load(DEFAULT_TASKS_DIR, task="url", head="lexical")
    r = det.detect(["https://www.wikipedia.org/wiki/Main_Page", "https://docs.python.org/3/library/re.html"],
                   evidence=False)
    assert [x.label for x in r] == ["benign", "benign"]
