"""Learning mode: site profiles from a synthetic site's normal traffic, injected anomalies, log mode.

Everything is built in tmp_path (no shared datasets); SECLLM_HOME points into tmp_path.
"""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest
from click.testing import CliRunner

from secllm.cli import main
from secllm.profile import (ProfileError, ProfileScorer, learn_profile, list_profiles, load_profile,
                            remove_profile)
from secllm.profile.logs import LogModel, log_template
from secllm.profile.stats import TailCalibrator, chi2_sf, combine_pvalues, ledoit_wolf, threshold_at_fpr
from secllm.profile.structure import endpoint_template, parse_observation, value_shape

WORDS = ["shoes", "red", "blue", "jacket", "socks", "hat", "summer", "sale", "wool", "linen", "boots", "bag"]
UA = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"


def _req(method: str, target: str, body: str = "", rng: random.Random | None = None) -> str:
    rng = rng or random.Random(0)
    head = [f"{method} {target} HTTP/1.1", "Host: shop.example", f"User-Agent: {UA}", "Accept: */*",
            f"Cookie: sid={rng.getrandbits(64):016x}"]
    if body:
        head += ["Content-Type: application/x-www-form-urlencoded", f"Content-Length: {len(body)}"]
    return "\r\n".join(head) + "\r\n\r\n" + body


def site_traffic(n: int, seed: int) -> list[str]:
    """Normal requests of a small shop: typed parameters on five endpoints."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.random()
        if k < 0.3:
            out.append(_req("GET", f"/products?id={rng.randint(1, 99999)}&sort={rng.choice(['asc', 'desc', 'price'])}",
                            rng=rng))
        elif k < 0.55:
            q = "+".join(rng.sample(WORDS, rng.randint(1, 3)))
            out.append(_req("GET", f"/search?q={q}&page={rng.randint(1, 20)}", rng=rng))
        elif k < 0.7:
            body = f"user={rng.choice(WORDS)}{rng.randint(1, 999)}&pass={rng.getrandbits(40):x}"
            out.append(_req("POST", "/login", body, rng=rng))
        elif k < 0.85:
            out.append(_req("GET", f"/user/{rng.randint(1, 5000)}/profile?tab={rng.choice(['posts', 'likes', 'about'])}",
                            rng=rng))
        else:
            out.append(_req("GET", f"/static/img/{rng.getrandbits(48):012x}.png", rng=rng))
    return out


ANOMALIES = {
    "sqli-in-id": (_req("GET", "/products?id=1'%20or%20'1'='1&sort=asc"),
                   "parameter `id` is numeric in 100% of learned requests; here it holds a quoted string"),
    "unseen-endpoint": (_req("GET", "/backup.zip"), "endpoint `/backup.zip` never seen"),
    "new-param": (_req("GET", "/search?q=shoes&page=2&debug=1"), "parameter `debug` never seen on `/search`"),
    "overlong": (_req("GET", "/search?q=" + "a" * 600 + "&page=1"), "parameter `q` is 600 chars long"),
    "put-method": (_req("PUT", "/products?id=3&sort=asc"), "method PUT never seen"),
}


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("SECLLM_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SECLLM_MODEL", raising=False)


@pytest.fixture(scope="module")
def tiny_detector(tmp_path_factory, tiny_tokenizer):
    """A tiny web-attack classifier with random weights: enough to exercise the detector and
    encoder plumbing (what it scores is beside the point here) and built in well under a second."""
    from secllm.model.config import preset
    from secllm.model.modeling import new_classifier, save_model

    labels = ["benign", "sqli", "xss", "cmdi", "path-traversal"]
    cfg = dataclasses.replace(preset("tiny"), vocab_size=tiny_tokenizer.vocab_size)   # never mutate the preset
    model = new_classifier(cfg, len(labels))
    return save_model(model, tiny_tokenizer, cfg, tmp_path_factory.mktemp("det"), "classifier", task="web-attack",
                      labels=labels, benign_label="benign", threshold=0.5, max_length=128)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """A structure-only profile of the shop (500 requests: 400 learned, 100 calibrate)."""
    d = tmp_path_factory.mktemp("shop")
    prof = learn_profile(site_traffic(500, seed=1), "shop", out_dir=d, use_model=False)
    return prof


# ------------------------------------------------------------------------------------------------
# parsing and small pieces
# ------------------------------------------------------------------------------------------------

def test_endpoint_templates_and_shapes():
    assert endpoint_template("/user/42/profile") == "/user/{int}/profile"
    assert endpoint_template("/f/123e4567-e89b-12d3-a456-426614174000") == "/f/{uuid}"
    assert endpoint_template("/static/img/9f86d081884c.png") == "/static/img/{hex}.png"
    assert endpoint_template("/backup.zip") == "/backup.zip"
    assert [value_shape(v) for v in ["7", "3.5", "deadbeef42", "2017/4/23 0:18:17", "1.0.9.1121", "a@b.io",
                                     "http://x.cn/", "<b>", "it's", "shoes", "pm-openapp", "two words", "1,2,3", "@x*y",
                                     "-1) union select 1,2"]] == \
        ["int", "decimal", "hex", "date", "version", "email", "url", "markup", "quoted", "word", "token", "text",
         "list", "symbols", "code"]


def test_parse_access_log_url_and_request():
    o = parse_observation('10.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "GET /a/7?x=1 HTTP/1.1" 200 5 "-" "ua"')
    assert (o.kind, o.method, o.endpoint, o.params) == ("access-log", "GET", "/a/{int}", [("query:x", "1")])
    o = parse_observation("/search?q=a+b&page=2")
    assert (o.kind, o.method, [n for n, _ in o.params]) == ("url", None, ["query:q", "query:page"])
    o = parse_observation(_req("POST", "/login", "user=a&pass=b"))
    assert o.method == "POST" and ("body:user", "a") in o.params and "user-agent" in o.headers
    assert parse_observation("hello there") is None and parse_observation("") is None


def test_stats_match_reference_implementations():
    scipy_stats = pytest.importorskip("scipy.stats")
    for x, k in [(0.5, 1), (3.84, 1), (7.0, 5), (12.3, 6), (40.0, 9)]:
        assert chi2_sf(x, k) == pytest.approx(scipy_stats.chi2.sf(x, k), rel=1e-9, abs=1e-12)
    lw = pytest.importorskip("sklearn.covariance")
    x = np.random.default_rng(0).normal(size=(40, 12)) @ np.diag(np.linspace(0.1, 3, 12))
    mean, cov, shrink = ledoit_wolf(x)
    ref = lw.LedoitWolf().fit(x)
    assert np.allclose(cov, ref.covariance_, atol=1e-10) and shrink == pytest.approx(ref.shrinkage_)


def test_tail_calibrator_and_threshold():
    cal = TailCalibrator.fit(np.arange(100.0))
    assert cal.pvalue(-5) == 1.0 and cal.pvalue(99) == pytest.approx(2 / 101)
    # beyond the calibration range p keeps falling (strong anomalies stay ranked), never below 0
    assert 0 < cal.pvalue(150) < cal.pvalue(120) < 1 / 101
    ps = cal.pvalues(np.arange(100.0))
    assert np.mean(ps < threshold_at_fpr(ps, 0.05)) <= 0.05


def test_combine_rule_max_lets_one_strong_signal_fire():
    # The documented choice: "max" (Bonferroni min-p) so that an anomaly visible to one component
    # only (an unseen endpoint: the attack detector sees nothing) is still flagged; Fisher needs
    # agreement and dilutes it. Fisher wins when all components are mildly unusual.
    one_strong = [1e-4, 0.9, 0.9]
    assert combine_pvalues(one_strong, "max") == pytest.approx(3e-4)
    assert combine_pvalues(one_strong, "fisher") > 10 * combine_pvalues(one_strong, "max")
    all_mild = [0.02, 0.02, 0.02]
    assert combine_pvalues(all_mild, "fisher") < combine_pvalues(all_mild, "max")
    with pytest.raises(ValueError):
        combine_pvalues([0.5], "mean")


# ------------------------------------------------------------------------------------------------
# the site profile (structure model)
# ------------------------------------------------------------------------------------------------

def test_anomalies_score_higher_with_the_right_evidence(shop):
    scorer = ProfileScorer(shop)
    heldout = scorer.score(site_traffic(300, seed=2))
    normal_dev = np.array([r.deviation for r in heldout])
    res = scorer.score([a for a, _ in ANOMALIES.values()], ids=list(ANOMALIES))
    for r, (name, (_, expected)) in zip(res, ANOMALIES.items()):
        assert r.status == "ok"
        assert r.deviation > np.quantile(normal_dev, 0.99), (name, r.deviation, r.evidence)
        assert r.verdict == "anomalous" and r.deviation_verdict == "anomalous", name
        assert any(e.startswith(expected) for e in r.evidence), (name, r.evidence)
    assert any("file extension `.zip` never seen" in e for e in res[1].evidence)


def test_fpr_on_heldout_normals_is_near_target(shop):
    res = ProfileScorer(shop).score(site_traffic(1000, seed=3))
    fpr = np.mean([r.verdict == "anomalous" for r in res])
    # target 1%; 100 calibration requests resolve it only roughly
    assert fpr <= 0.04, fpr


def test_round_trip_and_no_pickle(shop):
    again = load_profile(shop.path)
    items = site_traffic(30, seed=4) + [a for a, _ in ANOMALIES.values()]
    a = [r.to_json() for r in ProfileScorer(shop).score(items)]
    b = [r.to_json() for r in ProfileScorer(again).score(items)]
    assert a == b
    files = {p.suffix for p in shop.path.iterdir()}
    assert files <= {".json", ".npy"}, files
    for p in shop.path.glob("*.npy"):
        np.load(p, allow_pickle=False)
    assert json.loads((shop.path / "profile.json").read_text())["format"] == "secllm-profile"


def test_bad_items_at_scoring_are_data_not_crashes(shop):
    res = ProfileScorer(shop).score(["just words", "", "/products?id=5&sort=asc"])
    assert [r.status for r in res] == ["bad_input", "bad_input", "ok"]
    assert "does not apply" in res[0].error


@pytest.mark.parametrize("items,code", [
    ([], "empty"),
    (["", "   "], "empty"),
    (["/a?x=1"] * 5, "too_small"),
    (["hello world", "no url here"] * 30, "malformed"),
])
def test_learning_set_errors(items, code, tmp_path):
    with pytest.raises(ProfileError) as e:
        learn_profile(items, "bad", out_dir=tmp_path / "p", use_model=False)
    assert e.value.code == code
    assert "learning set" in str(e.value) or "--format" in str(e.value)
    assert not (tmp_path / "p").exists()


def test_names_listing_and_removal(tmp_path):
    with pytest.raises(ProfileError) as e:
        learn_profile(site_traffic(40, 0), "../evil", use_model=False)
    assert e.value.code == "bad_name"
    learn_profile(site_traffic(60, 0), "a", use_model=False, fmt="http")
    learn_profile(site_traffic(60, 1), "b", use_model=False)
    assert [p["name"] for p in list_profiles()] == ["a", "b"]
    remove_profile("a")
    assert [p["name"] for p in list_profiles()] == ["b"]
    with pytest.raises(ProfileError) as e:
        load_profile("a")
    assert e.value.code == "not_found" and "secllm learn" in str(e.value)
    with pytest.raises(ProfileError):
        remove_profile("a")


def test_fisher_profile_and_access_log_lines(tmp_path):
    lines = [f'10.0.0.{i % 9} - - [10/Oct/2023:13:{i % 60:02d}:00 +0000] "GET /item?id={i} HTTP/1.1" 200 5 "-" "ua"'
             for i in range(200)]
    prof = learn_profile(lines, "logsite", out_dir=tmp_path / "p", combine="fisher", use_model=False)
    assert prof.meta["combine"] == "fisher" and prof.meta["n_skipped"] == 0
    r = ProfileScorer(prof).score(['10.0.0.1 - - [10/Oct/2023:13:55:36 +0000] "DELETE /item?id=x%27-- HTTP/1.1" '
                                   '200 5 "-" "ua"'])[0]
    assert r.verdict == "anomalous"
    assert "method DELETE never seen" in r.evidence


# ------------------------------------------------------------------------------------------------
# with the detector: density model over its encoder + combined score
# ------------------------------------------------------------------------------------------------

def test_density_and_combined_with_tiny_model(tmp_path, tiny_detector):
    prof = learn_profile(site_traffic(300, seed=5), "m", out_dir=tmp_path / "m", model_dir=tiny_detector)
    assert set(prof.calibrators) == {"structure", "density", "detector"}
    assert prof.model["sha256"] and (tmp_path / "m" / "density_precisions.npy").is_file()
    scorer = ProfileScorer.load(tmp_path / "m")
    res = scorer.score([a for a, _ in ANOMALIES.values()] + site_traffic(50, seed=6))
    anomalies, normals = res[:len(ANOMALIES)], res[len(ANOMALIES):]
    assert all(r.density is not None and r.detector_score is not None for r in res)
    assert all(r.verdict == "anomalous" for r in anomalies), [(r.id, r.evidence) for r in anomalies]
    assert np.mean([r.verdict == "anomalous" for r in normals]) <= 0.1
    # the combined p-value is never weaker than the profile alone under the max rule with one more component
    for r in res:
        assert r.combined_p <= min(1.0, 1.5 * r.deviation_p) + 1e-12
    again = ProfileScorer.load(tmp_path / "m")
    assert [x.to_json() for x in again.score(site_traffic(5, 7))] == [x.to_json() for x in scorer.score(site_traffic(5, 7))]


# ------------------------------------------------------------------------------------------------
# log mode
# ------------------------------------------------------------------------------------------------

def _log_lines(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        blk = rng.randint(-10**12, 10**12)
        k = rng.random()
        if k < 0.5:
            out.append(f"081109 {203615 + i} 148 INFO dfs.DataNode$DataXceiver: Receiving block blk_{blk} "
                       f"src: /10.250.{rng.randint(0, 30)}.{rng.randint(1, 254)}:{rng.randint(30000, 60000)} "
                       f"dest: /10.250.{rng.randint(0, 30)}.{rng.randint(1, 254)}:50010")
        elif k < 0.8:
            out.append(f"081109 {203615 + i} 35 INFO dfs.FSNamesystem: BLOCK* NameSystem.allocateBlock: "
                       f"/user/root/rand/_temporary/part-{rng.randint(0, 999):05d} blk_{blk}")
        else:
            out.append(f"081109 {203615 + i} 149 INFO dfs.DataNode$PacketResponder: PacketResponder "
                       f"{rng.randint(0, 2)} for block blk_{blk} terminating")
    return out


def test_log_lines_profile(tmp_path):
    assert log_template("a blk_-12 from /10.0.0.1:80 took 12 ms") == "a <id> from /<ip>:<num> took <num> ms"
    prof = learn_profile(_log_lines(400, 0), "hdfs", out_dir=tmp_path / "h", fmt="log")
    assert prof.kind == "log"
    scorer = ProfileScorer(load_profile(tmp_path / "h"))
    normal = scorer.score(_log_lines(300, 1))
    assert np.mean([r.verdict == "anomalous" for r in normal]) <= 0.04
    odd = scorer.score([
        "081109 204000 148 WARN dfs.DataNode$DataXceiver: writeBlock blk_77 received exception java.io.IOException",
        "081109 204001 148 INFO dfs.DataNode$DataXceiver: Receiving block blk_5 src: /10.250.1.2:40000 "
        "dest: /10.250.1.3:8080",                      # the destination port is always 50010
    ])
    assert [r.verdict for r in odd] == ["anomalous", "anomalous"]
    assert "never seen" in odd[0].evidence[0]
    # the learned value (50010) is kept only as a fingerprint (issue 18): the evidence names the new one
    assert any("takes a single value" in e and "8080" in e for e in odd[1].evidence), odd[1].evidence


def test_session_profile(tmp_path):
    rng = random.Random(0)
    normal_patterns = [["5", "5", "22", "11", "9", "11", "9", "26", "26"], ["5", "22", "5", "11", "9", "26"],
                       ["22", "5", "5", "11", "9", "11", "9", "26", "26", "26"]]
    sessions = [" ".join(rng.choice(normal_patterns)) for _ in range(300)]
    prof = learn_profile(sessions, "sess", out_dir=tmp_path / "s", fmt="sessions")
    scorer = ProfileScorer(prof)
    res = scorer.score(["5 5 22 11 9 11 9 26 26", "5 5 22 11 9 23 26", "5 26 22 11", "5 " * 40])
    assert [r.verdict for r in res] == ["normal", "anomalous", "anomalous", "anomalous"]
    # sessions are learned by the sequence model now (tests/test_sequences.py); the earlier session
    # statistics stay available as LogModel.fit_sessions (the benchmarks' "profile-v1")
    assert prof.kind == "sequence" and "never seen in learning: `23`" in res[1].evidence[0]
    assert any("5 *26*" in e for e in res[2].evidence)
    v1 = LogModel.fit_sessions([s.split() for s in sessions])
    assert "event `23` never seen" in v1.score_session("5 5 22 11 9 23 26".split())[1]
    assert any("transition" in e for e in v1.score_session("5 26 22 11".split())[1])
    assert isinstance(LogModel.from_json(v1.to_json()), LogModel)


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------

def test_cli_learn_detect_profiles(tmp_path, tiny_detector):
    learn_file = tmp_path / "normal.txt"
    learn_file.write_text("\r\n\r\n".join(site_traffic(200, seed=8)) + "\r\n\r\n")
    run = CliRunner()
    r = run.invoke(main, ["learn", "--profile", "shop", str(learn_file), "--model", str(tiny_detector),
                          "--fpr", "0.02"])
    assert r.exit_code == 0, r.output
    assert "profile 'shop'" in r.output and "learned 160" in r.output
    r = run.invoke(main, ["learn", "--profile", "shop", str(learn_file), "--no-model"])
    assert r.exit_code != 0 and "exists" in r.output

    attacks = tmp_path / "attacks.txt"
    attacks.write_text("\r\n\r\n".join([ANOMALIES["unseen-endpoint"][0], site_traffic(1, seed=9)[0],
                                        ANOMALIES["sqli-in-id"][0]]) + "\r\n\r\n")
    r = run.invoke(main, ["detect", "--profile", "shop", "--json", "--requests", "--file", str(attacks)])
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(out) == 3 and all("profile" in o and o["profile"]["status"] == "ok" for o in out)
    assert out[0]["profile"]["verdict"] == "anomalous"
    # one top-level verdict: an anomaly the detector let pass is not reported as benign
    assert out[0]["label"] in ("anomalous", "malicious")
    assert out[0]["details"]["profile_verdict"] == "anomalous"
    assert out[0]["details"]["detector_label"] in ("benign", "malicious")
    assert "endpoint `/backup.zip` never seen" in out[0]["profile"]["evidence"]
    assert out[2]["profile"]["verdict"] == "anomalous"
    assert {"deviation", "deviation_p", "combined_p", "score", "detector_score", "density"} <= set(out[0]["profile"])

    r = run.invoke(main, ["detect", "--profile", "nope", "x"])
    assert r.exit_code != 0 and "no profile named 'nope'" in r.output

    r = run.invoke(main, ["profiles", "list", "--json"])
    assert r.exit_code == 0 and [p["name"] for p in json.loads(r.stdout)] == ["shop"]
    r = run.invoke(main, ["profiles", "show", "shop"])
    assert r.exit_code == 0 and "/products" in json.loads(r.stdout)["endpoints"]
    r = run.invoke(main, ["profiles", "remove", "shop"])
    assert r.exit_code == 0 and "removed" in r.output
    r = run.invoke(main, ["profiles", "list"])
    assert "no profiles" in r.output


def test_cli_learn_errors_and_log_score(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    r = CliRunner().invoke(main, ["learn", "--profile", "x", str(empty), "--no-model"])
    assert r.exit_code != 0 and "learning set is empty" in r.output
    junk = tmp_path / "junk.txt"
    junk.write_text("not a url at all\n" * 40)
    r = CliRunner().invoke(main, ["learn", "--profile", "x", str(junk), "--no-model"])
    assert r.exit_code != 0 and "--format" in r.output
    logs = tmp_path / "hdfs.log"
    logs.write_text("\n".join(_log_lines(300, 0)) + "\n")
    r = CliRunner().invoke(main, ["learn", "--profile", "hdfs", str(logs), "--format", "log"])
    assert r.exit_code == 0, r.output
    test = tmp_path / "test.log"
    test.write_text("081109 204000 148 FATAL dfs.DataNode: disk gone\n" + _log_lines(1, 5)[0] + "\n")
    r = CliRunner().invoke(main, ["profiles", "score", "hdfs", str(test), "--format", "log"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["id"] for x in rows] == ["1"] and rows[0]["verdict"] == "anomalous"
    r = CliRunner().invoke(main, ["detect", "--profile", "hdfs", "x"])
    assert r.exit_code != 0 and "log profile" in r.output
