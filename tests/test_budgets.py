"""Fail closed (issue 18): every part is judged within a stated budget, and past the budget an item
is never benign. Before this change, parts beyond the 64th were skipped, so an attack padded behind
64 harmless parameters, headers or cookies was called benign; long parts were read up to the model's
128 tokens only; and NFKC could expand a 975 KB request 18-fold before anything was cut."""

from __future__ import annotations

import json

import pytest

from secllm.detect import detector as D
from secllm.detect.detector import WebAttackDetector

ATTACKS = ["1' union select password from users--", "<script>alert(document.cookie)</script>",
           "../../../../etc/passwd", "1 or 1=1--", "\"><img src=x onerror=alert(1)>"]


@pytest.fixture(scope="module")
def shipped():
    return WebAttackDetector.load(None, backend="onnx-int8")


def _request(n: int, where: str, attack: str) -> str:
    """A raw request with ``n`` harmless parts of one kind, then the attack in the same kind."""
    from urllib.parse import quote

    q = quote(attack, safe="")
    if where == "query":
        target = "/p?" + "&".join(f"f{i}=v{i}" for i in range(n)) + f"&id={q}"
        return f"GET {target} HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    if where == "headers":
        hs = "".join(f"X-Pad-{i}: value {i}\r\n" for i in range(n))
        return f"GET / HTTP/1.1\r\nHost: shop.example\r\n{hs}User-Agent: {attack}\r\n\r\n"
    if where == "cookies":
        ck = "; ".join(f"c{i}=v{i}" for i in range(n))
        return f"GET / HTTP/1.1\r\nHost: shop.example\r\nCookie: {ck}; sid={q}\r\n\r\n"
    if where == "body":
        body = "&".join(f"f{i}=v{i}" for i in range(n)) + f"&id={q}"
        return ("POST /f HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}")
    if where == "json":
        body = json.dumps({**{f"f{i}": f"v{i}" for i in range(n)}, "id": attack})
        return (f"POST /api HTTP/1.1\r\nHost: shop.example\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}")
    if where == "multipart":
        fields = [(f"f{i}", f"v{i}") for i in range(n)] + [("id", attack)]
        body = "".join(f"--XB\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n" for k, v in fields)
        body += "--XB--\r\n"
        return ("POST /up HTTP/1.1\r\nHost: shop.example\r\nContent-Type: multipart/form-data; boundary=XB\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}")
    raise ValueError(where)


WHERE = ("query", "headers", "cookies", "body", "json", "multipart")


@pytest.mark.parametrize("where", WHERE)
def test_padding_does_not_hide_an_attack(shipped, where):
    alone = [r.label for r in shipped.detect([_request(0, where, a) for a in ATTACKS], evidence=False)]
    assert alone.count("malicious") >= 4, alone          # the suite is meaningful: caught alone
    for n in (64, 256, 1000):
        padded = [r.label for r in shipped.detect([_request(n, where, a) for a in ATTACKS], evidence=False)]
        assert padded == alone, (where, n, padded, alone)


def test_an_attack_after_the_models_length_in_one_long_part_is_read(shipped):
    """One value of 400 words then an attack: the model reads 128 tokens, the windows read all."""
    filler = " ".join(["please ship the blue shoes to my home address"] * 60)
    assert len(shipped.tok.windows(filler, shipped.max_length)) > 5
    r = shipped.detect([filler + " 1' union select password from users--"], kind="payload", evidence=False)[0]
    assert r.label == "malicious" and "sqli" in r.attack_types, r


def test_past_the_parts_budget_the_verdict_is_never_benign(shipped, monkeypatch):
    monkeypatch.setattr(D, "MAX_PARTS", 16)
    req = _request(40, "query", "blue")
    r = shipped.detect([req], evidence=False)[0]
    assert r.label == "malicious" and r.attack_type == "too_complex" and "too_complex" in r.attack_types
    assert any("over budget" in w for w in r.warnings)
    shipped.over_budget = "too_complex"
    try:
        assert shipped.detect([req], evidence=False)[0].label == "too_complex"
    finally:
        shipped.over_budget = "malicious"


def test_too_large_is_never_benign_and_the_batch_goes_on(shipped):
    res = shipped.detect(["a" * (D.MAX_ITEM_CHARS + 1), "blue"], evidence=False)
    assert res[0].status == "too_large" and res[0].label == "malicious" and res[0].attack_type == "too_complex"
    assert res[1].status == "ok" and res[1].label == "benign"


def test_unicode_expansion_is_bounded_and_fails_closed(shipped):
    """5 x 65,000 U+FDFA (975 KB) used to hold the model 18 s and double the RSS: the decoded text
    of a part is now cut at MAX_CANON_CHARS (and the item flagged), not tokenised whole."""
    import time

    item = "\ufdfa" * 60_000                     # under the raw size limit, 1.08 M chars after NFKC
    t0 = time.perf_counter()
    r = shipped.detect([item], kind="payload", evidence=False)[0]
    took = time.perf_counter() - t0
    assert r.label == "malicious" and "too_complex" in r.attack_types
    assert any("decoded text" in w for w in r.warnings)
    assert took < 60                             # bounded work (windows budget), not a timing claim


def test_canonical_cache_is_bounded_by_bytes():
    D._CANON_CACHE.clear()
    for i in range(3000):
        D._canonical(f"{i:06d}" + "x" * 240)
    assert D._CANON_CACHE.bytes <= D.CANON_CACHE_BYTES
    small = D._ByteLRU(10_000)
    for i in range(1000):
        small.put(str(i), i, 100)
    assert small.bytes <= 10_000 and len(small) == 100
