"""`secllm eval web-attack` end to end on toy data (hermetic: the data loader is monkeypatched).

The tiny model comes from the conftest fixtures; no file under ../shared is read. The CRS run skips
only when nginx + ModSecurity + CRS are missing (``SECLLM_REQUIRE_CRS=1`` makes that a failure).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from secllm.eval import web_eval
from secllm.eval.rules import is_available
from secllm.eval.web_eval import (
    LeakageError,
    WebEvalConfig,
    leave_one_family_out,
    load_user_data,
    low_label,
    run_web_eval,
    stratified_fraction,
)
from secllm.model.modeling import read_meta
from secllm.tasks.finetune import Examples, FinetuneConfig
from tests.conftest import toy_examples

CRS = is_available()
if not CRS and os.environ.get("SECLLM_REQUIRE_CRS") == "1":
    raise RuntimeError(f"SECLLM_REQUIRE_CRS=1 but the CRS engine is missing: {CRS.reason}")

# Test rows: none equals (after canonicalisation) a toy training row.
HP_TEST = {
    "benign": ["berlin 2024", "order=asc", "tokyo", "green apple", "c/ mayor 5", "item 77"],
    "sqli": ["1' or 'a'='a", "' union select name from admins--", "5 and 2=2", "id' or 1=1--"],
    "xss": ["<script>alert('hi')</script>", "<img src=y onerror=alert(2)>", "<svg onload=alert(3)>"],
    "path-traversal": ["../../../../etc/hosts"],
    "cmdi": ["; cat /etc/shadow"],
}
BOOK_TRAIN = [("/index.php?page=2", "benign"), ("/shop/list?cat=7", "benign"), ("/about", "benign"),
              ("/search?q=<script>alert(5)</script>", "xss"), ("/item?id=1 union select 1,2", "sqli"),
              ("/item?id=3' or '3'='3", "sqli"), ("/q?s=<img src=1 onerror=alert(4)>", "xss")]
BOOK_TEST = [("/news?id=3", "benign"), ("/page.php?x=<script>alert(9)</script>", "xss"),
             ("/p?id=2' or '1'='1", "sqli"), ("/contact?lang=en", "benign")]
FUZZ_TRAIN = [("' or ''='", "sqli"), ("<body onload=alert(8)>", "xss"), ("../../boot.ini", "path-traversal")]
FUZZ_TEST = [("admin' or 'x'='x'--", "sqli"), ("<iframe src=javascript:alert(7)>", "xss"),
             ("..%2f..%2fetc%2fpasswd", "path-traversal")]


def _ex(rows: list[tuple[str, str]], source: str, modality: str = "payload") -> Examples:
    return Examples([t for t, _ in rows], [modality] * len(rows), [lab for _, lab in rows], [source] * len(rows))


def _cat(*parts: Examples) -> Examples:
    return Examples([t for p in parts for t in p.texts], [m for p in parts for m in p.modalities],
                    [lab for p in parts for lab in p.labels], [s for p in parts for s in p.sources])


def toy_data() -> dict[str, Examples]:
    hp_train, hp_val = toy_examples(12, 0), toy_examples(3, 1)
    hp_train.sources = ["http_params"] * len(hp_train)
    hp_val.sources = ["http_params"] * len(hp_val)
    hp_test = [(t, lab) for lab, ts in HP_TEST.items() for t in ts]
    return {
        "train": _cat(hp_train, _ex(BOOK_TRAIN[:5], "1book:x", "url"), _ex(FUZZ_TRAIN, "fuzzdb")),
        "val": _cat(hp_val, _ex(BOOK_TRAIN[5:] + BOOK_TRAIN[:1], "1book:x", "url")),
        "test:http_params": _ex(hp_test, "http_params"),
        "test:1book": _ex(BOOK_TEST, "1book:x", "url"),
        "test:fuzzdb": _ex(FUZZ_TEST, "fuzzdb"),
        "_dropped_overlap": 0,  # type: ignore[dict-item]
    }


@pytest.fixture(autouse=True)
def fast_plots(monkeypatch):
    """Matplotlib takes ~90% of a toy run; the plots are tested in test_report.py, so here each plot
    function only writes an empty placeholder file (the report still lists and links it)."""
    from secllm.eval import report

    def placeholder(path, *args, **kwargs):
        Path(path).write_bytes(b"")

    for name in ("_plot_roc", "_plot_pr", "_plot_confusion", "_plot_per_class"):
        monkeypatch.setattr(report, name, placeholder)


@pytest.fixture(scope="module")
def quick_model(tmp_path_factory, tiny_base) -> Path:
    """A tiny web-attack model fine-tuned for a few seconds (the conftest one trains longer than we need)."""
    from secllm.tasks.finetune import finetune

    return finetune(toy_examples(10, 0), toy_examples(3, 1), ["benign", "sqli", "xss", "cmdi", "path-traversal"],
                    tmp_path_factory.mktemp("quick"), base_dir=tiny_base,
                    cfg=FinetuneConfig(epochs=4, lr=3e-3, batch_tokens=512), progress=False)


@pytest.fixture()
def patched(monkeypatch, tmp_path):
    """The data loader returns the toy splits; ``--datasets`` points at an empty folder."""
    calls = []

    def fake_loader(root, **kw):
        calls.append(root)
        return toy_data()

    monkeypatch.setattr(web_eval, "load_web_attack", fake_loader)
    (tmp_path / "datasets").mkdir()
    return tmp_path


def _cli(args: list[str]):
    from secllm.cli import main

    res = CliRunner().invoke(main, ["eval", "web-attack", *args], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def _rows(index: dict, test: str) -> dict[str, dict]:
    return {r["system"]: r for r in index["headline"] if r["test_set"] == test}


def test_eval_without_crs_end_to_end(patched, quick_model) -> None:
    out = patched / "rep"
    user = patched / "mine.csv"
    user.write_text("text,label\nhello there,benign\n' or 9=9--,malicious\n<b onclick=alert(1)>,attack\nx,0\n")
    _cli(["--model", str(quick_model), "--no-crs", "--datasets", str(patched / "datasets"), "--out", str(out),
          "--bootstrap", "0", "--data", str(user), "--tampers", "space2comment,randomcase,charencode"])
    index = json.loads((out / "report.json").read_text())
    md = (out / "report.md").read_text()
    for name in ("http_params", "1book", "fuzzdb", "cross_source_1book", "cross_source_http_params",
                 "cross_source_fuzzdb", "evasion", "user_data"):
        assert (out / name / "report.md").is_file() and (out / name / "roc.png").is_file(), name
        assert name in index["reports"] and f"### {name}" in md
    hp = _rows(index, "http_params")
    assert set(hp) == {"secllm-pretrained", "libinjection", "tfidf-char-lr", "length-only"}
    # libinjection catches the plain SQLi items of the toy test split and flags no benign one.
    rep = json.loads((out / "http_params" / "report.json").read_text())
    li = rep["systems"]["libinjection"]
    assert li["multiclass"]["per_class"]["sqli"]["recall"] >= 0.75
    assert li["binary"]["fp"] == 0 and hp["libinjection"]["n"] == 15
    assert rep["systems"]["secllm-pretrained"]["binary"]["roc_auc"] > 0.5
    # Cross-source sets use baselines trained on the matching subset and no SecLLM model.
    cs = _rows(index, "cross_source_1book")
    assert "tfidf-char-lr (no 1book)" in cs and "secllm-pretrained" not in cs
    assert "tfidf-char-lr (1book only)" in _rows(index, "cross_source_http_params")
    # Evasion: before/after per system and operator, sqlmap tampers included where installed.
    ev = json.loads((out / "evasion" / "report.json").read_text())["evasion"]["detection_rate"]
    assert {"secllm-pretrained", "libinjection", "tfidf-char-lr"} <= set(ev)
    assert {"all", "percent", "random_case", "sql_tautology"} <= set(ev["libinjection"])
    assert ev["libinjection"]["all"]["before"] >= 0.5 and 0.0 <= ev["libinjection"]["all"]["after"] <= 1.0
    assert "before → after" in (out / "evasion" / "report.md").read_text()
    assert index["evasion"]["libinjection"]["n"] == ev["libinjection"]["all"]["n"]
    # The user's file: generic labels -> scored benign vs malicious.
    ud = json.loads((out / "user_data" / "report.json").read_text())
    assert ud["systems"]["libinjection"]["n"] == 4
    assert ud["systems"]["libinjection"]["multiclass"]["labels"] == ["benign", "malicious"]
    # The manifest carries row hashes of every split used.
    man = index["manifest"]
    assert len(man["test_sets"]["http_params"]["split"]["sha256"]) == 64
    assert man["train_val_split"]["train"]["count"] == len(toy_data()["train"])


@pytest.mark.skipif(not CRS, reason=CRS.reason or "CRS available")
def test_eval_with_crs_on_five_items(patched) -> None:
    out = patched / "rep"
    cfg = WebEvalConfig(out=out, datasets=patched / "datasets", crs=True, sample=5, bootstrap=0, evasion_items=2,
                        tampers=("space2comment",), progress=False)
    index = run_web_eval(cfg)
    hp = _rows(index, "http_params")
    assert {"owasp-crs-pl1", "owasp-crs-pl2", "owasp-crs-pl3", "owasp-crs-pl4", "libinjection"} <= set(hp)
    assert all(r["n"] == 5 for r in hp.values())
    rep = json.loads((out / "http_params" / "report.json").read_text())
    pl1, pl4 = rep["systems"]["owasp-crs-pl1"], rep["systems"]["owasp-crs-pl4"]
    assert pl1["threshold"] == 5.0 and pl1["score_from_labels"] is False
    # The anomaly score only grows with the paranoia level; the SQLi item(s) are blocked at PL1.
    assert pl4["binary"]["tp"] >= pl1["binary"]["tp"] >= 1
    assert "http_params" in index["crs_rejected"]
    assert "owasp-crs-pl1" in json.loads((out / "evasion" / "report.json").read_text())["evasion"]["detection_rate"]


def test_eval_refuses_a_test_row_seen_in_training(patched, monkeypatch) -> None:
    def leaky(root, **kw):
        data = toy_data()
        t = data["test:http_params"]
        t.texts[0] = data["train"].texts[0].upper()  # same canonical text as a training row
        return data

    monkeypatch.setattr(web_eval, "load_web_attack", leaky)
    cfg = WebEvalConfig(out=patched / "rep", datasets=patched / "datasets", crs=False, bootstrap=0, progress=False)
    with pytest.raises(LeakageError, match="http_params.*train"):
        run_web_eval(cfg)
    assert not (patched / "rep" / "report.json").exists()


@pytest.mark.parametrize("jobs", [1, 2])
def test_eval_ablations_on_a_tiny_base(patched, tiny_base, jobs) -> None:
    """In this process (jobs=1) and in spawned worker processes (jobs=2): the same systems."""
    out = patched / "rep"
    cfg = WebEvalConfig(out=out, datasets=patched / "datasets", crs=False, evasion=False, bootstrap=0,
                        ablations=True, base=Path(tiny_base), families=("xss",), fractions=(0.5,),
                        ablation_cfg=FinetuneConfig(epochs=1, batch_tokens=256), progress=False, jobs=jobs)
    index = run_web_eval(cfg)
    fits = index["timings"]["fits_s"]
    assert {"lofo:xss", "low:pretrained@50%", "low:random@50%", "probe", "low:tfidf@50%", "baselines:main",
            "baselines:lofo_xss"} <= set(fits)
    assert all(v >= 0 for v in fits.values()) and index["timings"]["jobs"] == jobs
    lofo = _rows(index, "lofo_xss")
    assert {"secllm-lofo-xss", "tfidf-char-lr (lofo xss)", "libinjection"} <= set(lofo)
    assert "xss" not in read_meta(out / "ablations" / "models" / "lofo-xss")["labels"]
    low = _rows(index, "low_label")
    assert {"secllm-pretrained@50%", "secllm-random-init@50%", "tfidf-char-lr@50%"} <= set(low)
    assert "secllm-linear-probe" in _rows(index, "http_params")
    assert read_meta(out / "ablations" / "models" / "linear-probe")["finetune"]["config"]["freeze_base"] is True


def test_ablation_helpers(tmp_path, tiny_base) -> None:
    train, val = toy_examples(6, 0), toy_examples(2, 1)
    cfg = FinetuneConfig(epochs=1, batch_tokens=256)
    d = leave_one_family_out("cmdi", train, val, tmp_path / "lofo", base_dir=tiny_base, cfg=cfg,
                             labels=["benign", "sqli", "xss", "cmdi", "path-traversal"])
    meta = read_meta(d)
    assert "cmdi" not in meta["labels"] and "cmdi" not in meta["finetune"]["train_label_counts"]
    assert meta["ablation"] == {"kind": "leave-one-family-out", "family": "cmdi", "dropped_train_rows": 6,
                                "dropped_val_rows": 2}
    d = low_label(0.5, train, val, tmp_path / "low", base_dir=tiny_base, cfg=cfg, init="random",
                  labels=["benign", "sqli", "xss", "cmdi", "path-traversal"])
    meta = read_meta(d)
    assert meta["init"] == "random" and meta["finetune"]["train_rows"] == 15
    with pytest.raises(ValueError, match="not an attack family"):
        leave_one_family_out("benign", train, val, tmp_path / "x", base_dir=tiny_base)


def test_stratified_fraction_and_user_labels(tmp_path) -> None:
    idx = stratified_fraction(["a"] * 100 + ["b"] * 3, 0.1, seed=1)
    assert len(idx) == 11 and sum(i >= 100 for i in idx) == 1
    assert idx == stratified_fraction(["a"] * 100 + ["b"] * 3, 0.1, seed=1)
    p = tmp_path / "u.jsonl"
    p.write_text('{"text": "a", "label": "norm"}\n{"text": "\' or 1=1", "label": "SQLi"}\n'
                 '{"text": "b", "label": 0}\n{"text": "c"}\nnot json\n')
    ts = load_user_data(p)
    assert ts.labels == ["benign", "sqli", "benign"] and not ts.binary_only
    assert "2 unreadable or unlabeled rows skipped" in ts.notes[0]


def test_user_data_without_datasets(monkeypatch, tmp_path) -> None:
    """A team with only its own labeled traffic: rule engines (and any model) on that file alone."""
    def missing(root, **kw):
        raise FileNotFoundError("no datasets here")

    monkeypatch.setattr(web_eval, "load_web_attack", missing)
    p = tmp_path / "traffic.csv"
    p.write_text("text,label\n/shop?id=5,norm\n/shop?id=5' union select 1--,sqli\n/a?q=<script>x</script>,xss\n")
    (tmp_path / "ds").mkdir()
    index = run_web_eval(WebEvalConfig(out=tmp_path / "rep", datasets=tmp_path / "ds", data_file=p, crs=False,
                                       bootstrap=0, progress=False))
    assert set(index["reports"]) == {"user_data"}
    li = _rows(index, "user_data")["libinjection"]
    assert li["recall"] == 1.0 and li["fpr"] == 0.0
