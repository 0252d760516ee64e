"""Request bodies the way an XML-aware WAF reads them, and binary content judged by its strings."""

from __future__ import annotations

import time

import pytest

from secllm.data.http import _xml_parts, split_web_input


def _req(body: str, ctype: str | None) -> str:
    head = "POST /svc HTTP/1.1\r\nHost: h\r\n" + (f"Content-Type: {ctype}\r\n" if ctype else "")
    return head + f"Content-Length: {len(body)}\r\n\r\n" + body


def test_xml_body_gives_values_attributes_cdata_and_the_dtd_with_offsets():
    body = ('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
            '<r xmlns:a="urn:a"><!-- note --><a:q id="7">&x;</a:q><c><![CDATA[1 < 2]]></c><e/>tail</r>')
    text = _req(body, "text/xml; charset=utf-8")
    kind, parts = split_web_input(text, "http")
    got = [(p.name, p.text) for p in parts if p.name.startswith("body")]
    assert got == [("body:doctype", '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
                   ("body-attr:r.xmlns:a", "urn:a"), ("body-attr:a:q.id", "7"), ("body:a:q", "&x;"),
                   ("body:c", "1 < 2"), ("body:r", "tail")]
    assert all(text[p.start:p.end] == p.text for p in parts)


def test_xml_with_browser_active_markup_is_also_judged_whole():
    parts = _xml_parts('<doc><script>alert(1)</script></doc>', 0)
    assert parts[-1].name == "body:markup" and parts[-1].text.startswith("<doc>")
    assert [p.name for p in _xml_parts('<doc><b>x</b></doc>', 0)] == ["body:b"]


def test_xml_without_markup_or_truncated():
    assert _xml_parts("a < b and c", 0) == []                      # no markup: judged whole by the caller
    parts = _xml_parts('<a><b>1</b><c x="unterminated', 100)     # a truncated capture
    assert [(p.name, p.text) for p in parts] == [("body:b", "1"), ("body:rest", '<c x="unterminated')]
    assert parts[-1].start == 100 + 11


@pytest.mark.parametrize("body", ["<a" * 32000, '<a "' * 16000, "<!--" * 16000, "<?" * 32000,
                                  "<![CDATA[" * 7000, "<!DOCTYPE [" * 6000, '<a x="' * 10000,
                                  "<a>" * 10000 + "</b>" * 10000, "<" * 64000])
def test_xml_scan_is_linear_on_hostile_bodies(body):
    t = time.perf_counter()
    _xml_parts(body, 0)
    assert time.perf_counter() - t < 2.0          # a backtracking regex took 4-79 s on these


def test_text_plain_form_body_is_split_into_fields():
    kind, parts = split_web_input(_req("v=1&tid=UA-5&dp=%2Fplay", "text/plain"), "http")
    assert [(p.name, p.text) for p in parts if p.name.startswith("body")] == \
        [("body:v", "1"), ("body:tid", "UA-5"), ("body:dp", "%2Fplay")]
    kind, parts = split_web_input(_req("just some words = here", "text/plain"), "http")
    assert [p.name for p in parts if p.name.startswith("body")] == ["body"]


def test_binary_parts_are_judged_by_their_printable_strings(tiny_web_model):
    from secllm.detect.detector import WebAttackDetector, _binary_strings, Part
    from secllm.data.canonical import canonicalize

    ocsp = "0Q0O0M\t\x06\x05+\x0e\x03\x02\x1a\x05\x00\x04\x14\xe4\xe3\x95\xa2)\xd3\xd4\xc1\xc3\x1f\xf0\x98\x0c\x0bN"
    assert _binary_strings(Part("body", ocsp, 0, len(ocsp)), canonicalize(ocsp)) == []
    assert _binary_strings(Part("q", "plain text", 0, 10), canonicalize("plain text")) is None
    assert _binary_strings(Part("q", "a\x00b", 0, 3), canonicalize("a\x00b")) is None     # one NUL: text
    hidden = "\x01\x02\x03\x04\x05\x06' UNION SELECT password FROM users--\x07\x08\x0b\x0c\x0e\x0f" * 2
    text = _req(hidden, "application/octet-stream")
    det = WebAttackDetector.load(tiny_web_model, backend="torch")
    r = det.detect([text], evidence=True, kind="http")[0]
    assert r.status == "ok" and any("binary body" in w for w in r.warnings)
    if r.label == "malicious":                     # the tiny model decides; the offsets must hold
        assert r.part == "body:strings" and all(text[e.start:e.end] == e.text for e in r.evidence)
    # percent-encoded binary (a torrent info_hash) is binary after decoding
    enc = "%aa7i%c4S%0d%de%06%24%18s%da%d4%3a%b5%cc%ec%2c%e6%22"
    assert _binary_strings(Part("query:info_hash", enc, 0, len(enc)), canonicalize(enc)) == []
