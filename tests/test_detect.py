import json
import numpy as np

from secllm.detect.detector import MAX_ITEM_CHARS, Status, WebAttackDetector
from secllm.detect.io import iter_items


def _det(path):
    return WebAttackDetector.load(path)


def test_result_fields_and_json(tiny_web_model):
    det = _det(tiny_web_model)
    res = det.detect(["' union select password from users--", "john"], ids=["a", "b"])
    for r in res:
        d = r.to_json()
        for key in ("id", "label", "score", "attack_type", "evidence", "status"):
            assert key in d
        assert d["status"] == "ok" and d["label"] in ("benign", "malicious")
        assert 0.0 <= d["score"] <= 1.0
        json.dumps(d)
    assert [r.id for r in res] == ["a", "b"]


def test_bad_items_get_error_status_and_batch_goes_on(tiny_web_model):
    det = _det(tiny_web_model)
    items = ["", "x" * (MAX_ITEM_CHARS + 1), 12345, "<script>alert(1)</script>", "   "]
    res = det.detect(items)  # type: ignore[arg-type]
    assert [r.status for r in res] == [Status.EMPTY, Status.TOO_LARGE, Status.BAD_INPUT, Status.OK, Status.EMPTY]
    assert res[3].score is not None and res[3].error is None
    assert all(r.error for r in res if r.status != Status.OK)


def test_evidence_points_into_original_input(tiny_web_model):
    det = _det(tiny_web_model)
    det.threshold = 0.0          # force a malicious verdict so that evidence is computed
    raw = "GET /item?id=1%27%20union%20select%20password%20from%20users-- HTTP/1.1\r\nHost: a.example\r\n\r\n"
    (r,) = det.detect([raw])
    assert r.kind == "http" and r.status == "ok"
    assert r.evidence, "a malicious verdict carries evidence"
    for e in r.evidence:
        assert 0 <= e.start < e.end <= len(raw)
        assert raw[e.start:e.end] == e.text
        assert 0 < e.weight <= 1
    assert abs(sum(e.weight for e in r.evidence) - 1.0) < 0.5 or len(r.evidence) == 5


def test_encoded_and_plain_payload_score_the_same(tiny_web_model):
    det = _det(tiny_web_model)
    a, b = det.detect(["<script>alert(1)</script>", "%3Cscript%3Ealert%281%29%3C%2Fscript%3E"])
    assert abs(a.score - b.score) < 1e-5


def test_iter_items_jsonl_and_invalid_utf8():
    lines = [b'{"id": "r1", "text": "abc"}\n', b"not json\n", b'{"id": 3}\n', b"\n",
             b'{"id": "r4", "text": "\xff\xfe"}\n']
    items = list(iter_items(lines, fmt="jsonl"))
    assert [i.id for i in items] == ["r1", "2", "3", "r4"]
    assert items[0].text == "abc" and items[0].error is None
    assert items[1].error and items[2].error
    assert items[3].invalid_utf8 and items[3].text == "\xff\xfe"
    t = list(iter_items([b"a\xffb\n"], fmt="text"))
    assert t[0].invalid_utf8 and t[0].text == "a\xffb"


def test_score_cache_is_exact_bounded_and_can_be_turned_off(tiny_web_model):
    det = _det(tiny_web_model)
    texts = ["' or 1=1--", "<script>alert(1)</script>", "/a/b.php?x=1", "' or 1=1--"]
    mods = ["payload", "payload", "url", "payload"]
    det.cache_size = 0
    ref = det.score_texts(texts, mods)
    assert det.cache_hits == det.cache_misses == 0 and not det._cache
    det.cache_size = 2
    first = det.score_texts(texts, mods)
    assert det.cache_misses == 3, "a repeat inside one batch costs one model call"
    assert len(det._cache) == 2, "the cache never grows past cache_size"
    second = det.score_texts(texts[1:3], mods[1:3])    # the two most recent entries: hits
    assert det.cache_hits == 2
    np.testing.assert_allclose(first, ref, atol=1e-6)
    np.testing.assert_allclose(second, ref[1:3], atol=1e-6)
    # same text, other modality: a different key, scored by the model
    det.score_texts(["/a/b.php?x=1"], ["payload"])
    assert det.cache_misses == 4
    det.clear_cache()
    assert not det._cache and det.cache_hits == 0
