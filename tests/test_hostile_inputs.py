"""Issue 18 (items 4 and 5, reader side): hostile lines and files are typed per-item errors within a
memory bound, never an exception that loses the lines already read.

Each case here raised (RecursionError, ValueError, UnicodeEncodeError) or held the whole input in
memory before the fix.
"""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner


DEEP = "[" * 100_000
HUGE_INT_ID = '{"id": ' + "9" * 5000 + ', "text": "x"}'
SURROGATE_ID = '{"id": "\\ud800", "text": "y\\udfff"}'
HOSTILE_JSONL = [
    '{"id": "a", "text": "first"}',
    DEEP,
    '{"id": ' + "[" * 3000 + "]" * 3000 + ', "text": "z"}',   # parses, but an id no writer can use
    HUGE_INT_ID,
    SURROGATE_ID,
    '{"id": {"k": [1, 2]}, "text": "obj id"}',
    "\x00\xff not json",
    '{"id": "b", "text": "last"}',
]


def _peak_during(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def _write_bomb(path: Path, mib: int = 40, line: bytes = b"/a?b=c\n") -> None:
    """A gzip file of ``mib`` MiB of one repeated line (ratio ~1000: what a compression bomb is)."""
    chunk = line * ((1 << 20) // len(line))
    with gzip.open(path, "wb", compresslevel=9) as f:
        for _ in range(mib):
            f.write(chunk)


# ------------------------------------------------------------------------------------------------
# The shared helpers
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [DEEP, HUGE_INT_ID, "{", '{"a": NaN', "\ud800", b"\xff\xfe{}", "1" * 5000, ""])
def test_parse_json_line_never_raises(line):
    from secllm.data.bounded import parse_json_line

    value, err = parse_json_line(line)
    assert (value is None) == (err is not None)
    if err is not None:
        assert err.startswith("invalid JSON")


def test_huge_integer_is_kept_as_text():
    from secllm.data.bounded import parse_json_line

    value, err = parse_json_line(HUGE_INT_ID)
    assert err is None and value["id"] == "9" * 5000 and value["text"] == "x"


def test_json_line_survives_lone_surrogates():
    from secllm.data.bounded import json_line

    s = json_line({"id": "\ud800", "text": "a\udfffb"})
    s.encode("utf-8")                                        # what a UTF-8 stdout does
    assert json.loads(s) == {"id": "\ufffd", "text": "a\ufffdb"}


def test_iter_lines_skips_an_overlong_line_without_holding_it():
    from secllm.data.bounded import LineError, iter_lines

    big = 20 << 20
    stream = io.BufferedReader(io.BytesIO(b"ok1\n" + b"A" * big + b"\nok2\n"), buffer_size=1 << 16)
    out, peak = _peak_during(lambda: list(iter_lines(stream, max_line=1 << 20)))
    assert out[0] == b"ok1\n" and out[2] == b"ok2\n"
    assert isinstance(out[1], LineError) and out[1].code == "too_large"
    assert peak < 6 << 20, f"held {peak} bytes for a {big}-byte line"


def test_gzip_bomb_stops_at_the_ratio_bound(tmp_path):
    from secllm.data.bounded import InputLimitError, LineError, iter_lines, open_input, read_input

    bomb = tmp_path / "bomb.txt.gz"
    _write_bomb(bomb)
    with pytest.raises(InputLimitError) as e:
        read_input(bomb)
    assert e.value.code == "compression_ratio"
    # streaming: the lines before the bound are read, then one typed error ends the stream
    with open_input(bomb) as f:
        tail = None
        n = 0
        for x in iter_lines(f):
            if isinstance(x, LineError):
                tail = x
            else:
                n += 1
    assert n > 0 and tail is not None and tail.code == "compression_ratio"


def test_total_cap_applies_to_plain_files(tmp_path):
    from secllm.data.bounded import InputLimitError, read_input

    p = tmp_path / "big.txt"
    p.write_bytes(b"x" * 5000)
    with pytest.raises(InputLimitError) as e:
        read_input(p, max_bytes=4096)
    assert e.value.code == "too_large"


# ------------------------------------------------------------------------------------------------
# detect: iter_items and the CLI
# ------------------------------------------------------------------------------------------------

def test_iter_items_turns_every_hostile_jsonl_line_into_an_item():
    from secllm.detect.io import iter_items

    items = list(iter_items([x.encode("utf-8", "surrogatepass") for x in HOSTILE_JSONL], fmt="jsonl"))
    assert len(items) == len(HOSTILE_JSONL)
    assert items[0].text == "first" and items[-1].text == "last", "valid lines around the bad ones survive"
    assert items[3].text == "x" and items[3].id.startswith("999") and len(items[3].id) <= 513, \
        "a 5,000-digit id is kept as text (cut), the item is judged"
    assert items[4].id == "\ufffd" and items[4].text == "y\ufffd", "lone surrogates scrubbed"
    bad = [it for it in items if it.error is not None]
    assert [items.index(b) for b in bad] == [1, 2, 5, 6]
    assert all(b.status == "bad_json" for b in bad)
    for it in items:                                        # everything is writable as UTF-8
        (it.id + (it.text or "") + (it.error or "")).encode("utf-8")


def test_iter_items_reads_a_stream_with_a_line_cap():
    from secllm.detect.io import iter_items

    stream = io.BufferedReader(io.BytesIO(b"a\n" + b"B" * (3 << 20) + b"\nc\n"))
    items = list(iter_items(stream, fmt="text"))
    assert [it.text for it in items] == ["a", None, "c"]
    assert items[1].status == "too_large" and items[1].id == "2"


def test_write_json_never_raises_on_odd_strings():
    from secllm.detect.detector import Detection
    from secllm.detect.io import write_json

    buf = io.BytesIO()
    out = io.TextIOWrapper(buf, encoding="utf-8")
    write_json([Detection(id="\ud800", status="bad_json", error="x\udc80")], out)
    out.flush()
    assert json.loads(buf.getvalue())["id"] == "\ufffd"


def test_cli_detect_jsonl_keeps_going_past_hostile_lines(tmp_path, tiny_web_model):
    from secllm.cli import main

    p = tmp_path / "items.jsonl"
    p.write_bytes("\n".join(HOSTILE_JSONL).encode("utf-8", "surrogatepass") + b"\n")
    r = CliRunner().invoke(main, ["detect", "--jsonl", "--json", "--file", str(p), "--model", str(tiny_web_model),
                                  "--backend", "torch", "--no-evidence"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(rows) == len(HOSTILE_JSONL)
    assert [x["status"] for x in rows].count("bad_json") == 4
    assert rows[-1]["id"] == "b" and rows[-1]["status"] == "ok"


def test_cli_detect_requests_input_is_bounded(tmp_path, tiny_web_model, monkeypatch):
    from secllm.cli import detect as detect_cli
    from secllm.cli import main

    monkeypatch.setattr(detect_cli, "MAX_REQUESTS_BYTES", 4096)
    p = tmp_path / "reqs.txt"
    req = "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    p.write_text(req * 400)                       # ~12 KB: past the (patched) bound
    r = CliRunner().invoke(main, ["detect", "--requests", "--json", "--file", str(p), "--model", str(tiny_web_model),
                                  "--backend", "torch", "--no-evidence"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert rows[-1]["status"] == "too_large" and all(x["status"] == "ok" for x in rows[:-1])
    assert 0 < len(rows) - 1 < 400


# ------------------------------------------------------------------------------------------------
# learn (profile inputs)
# ------------------------------------------------------------------------------------------------

def test_learning_jsonl_skips_hostile_lines(tmp_path):
    from secllm.profile.inputs import read_learning_items

    p = tmp_path / "t.jsonl"
    p.write_bytes("\n".join(HOSTILE_JSONL).encode("utf-8", "surrogatepass") + b"\n")
    items, _ = read_learning_items([p], "jsonl")
    assert items[0] == "first" and items[-1] == "last" and "y\ufffd" in items
    assert all(isinstance(x, str) for x in items)
    for x in items:
        x.encode("utf-8")


def test_learning_refuses_a_gzip_bomb_in_bounded_memory(tmp_path):
    from secllm.data.bounded import InputLimitError
    from secllm.profile.inputs import read_learning_items

    bomb = tmp_path / "urls.txt.gz"
    _write_bomb(bomb, mib=48)
    err, peak = _peak_during(lambda: pytest.raises(InputLimitError, read_learning_items, [bomb], "urls"))
    assert err.value.code == "compression_ratio"
    assert peak < 40 << 20, f"peak {peak >> 20} MiB while refusing the bomb"


def test_cli_learn_bomb_is_a_one_line_error(tmp_path):
    from secllm.cli import main

    bomb = tmp_path / "urls.txt.gz"
    _write_bomb(bomb, mib=24)
    r = CliRunner().invoke(main, ["learn", "--profile", "x", str(bomb), "--no-model", "--out", str(tmp_path / "p")])
    assert r.exit_code != 0 and "compression_ratio" in r.output and "Traceback" not in r.output


def test_learning_overlong_line_is_skipped(tmp_path):
    from secllm.profile.inputs import read_learning_items

    p = tmp_path / "u.txt"
    p.write_bytes(b"/a?x=1\n/" + b"b" * (3 << 20) + b"\n/c?y=2\n")
    items, _ = read_learning_items([p], "urls")
    assert items == ["/a?x=1", "/c?y=2"]


# ------------------------------------------------------------------------------------------------
# scan's readers
# ------------------------------------------------------------------------------------------------

def test_scan_jsonl_reader_hostile_lines(tmp_path):
    from secllm.scan import iter_scan_items

    p = tmp_path / "x.jsonl"
    p.write_bytes("\n".join(HOSTILE_JSONL).encode("utf-8", "surrogatepass") + b"\n")
    items = list(iter_scan_items(p))
    assert len(items) == len(HOSTILE_JSONL)
    assert items[0].text == "first" and items[-1].text == "last"
    assert [i for i, it in enumerate(items) if it.error] == [1, 2, 5, 6]
    assert all(it.error.startswith("bad_json") for it in items if it.error)
    for it in items:
        (it.id + it.text).encode("utf-8")


@pytest.mark.parametrize("gz", [False, True])
def test_scan_lines_of_random_bytes_stay_in_bounded_memory(tmp_path, gz):
    """A 12 MB line and 2 MB of random bytes: the long line is a corrupt item, the random bytes are
    items, and the reader holds a few line caps at most (a cap's bytes, its decoded text...)."""
    import random

    from secllm.scan import MAX_LINE_BYTES, iter_scan_items

    rnd = random.Random(0).randbytes(2 << 20)
    data = b"GET /a HTTP/1.1 first\n" + b"A" * (12 << 20) + b"\n" + rnd + b"\nlast line\n"
    p = tmp_path / ("r.log.gz" if gz else "r.log")
    p.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    tracemalloc.start()
    try:
        n = errors = 0
        last = None
        for it in iter_scan_items(p, "lines"):
            n += 1
            errors += it.error is not None
            last = it
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert errors >= 1 and last.text == "last line", (n, errors)
    assert peak < 6 * MAX_LINE_BYTES, peak                 # the 12 MB line was never held whole


def test_scan_cli_writes_findings_with_surrogate_ids(tmp_path, tiny_web_model):
    from secllm.cli import main

    p = tmp_path / "x.jsonl"
    p.write_text('{"id": "\\ud800", "text": "1\' or 1=1--"}\n' + DEEP + "\n")
    r = CliRunner().invoke(main, ["scan", str(p), "--model", str(tiny_web_model), "--backend", "torch", "--all",
                                  "--no-progress"])
    assert r.exit_code == 0, r.output


# ------------------------------------------------------------------------------------------------
# secllm.data.readers
# ------------------------------------------------------------------------------------------------

def test_read_jsonl_hostile_lines_are_error_records(tmp_path):
    from secllm.data.readers import read_jsonl

    p = tmp_path / "r.jsonl"
    p.write_bytes("\n".join(HOSTILE_JSONL).encode("utf-8", "surrogatepass") + b"\n")
    recs = list(read_jsonl(p))
    assert len(recs) == len(HOSTILE_JSONL)
    assert recs[0].text == "first" and recs[-1].text == "last"
    for r in recs:
        json.dumps(r.to_json(), ensure_ascii=False).encode("utf-8")     # what a JSONL cache writer does
        r.id.encode("utf-8")
        r.text.encode("utf-8")


def test_readers_bound_lines_and_decompression(tmp_path):
    from secllm.data.readers import read_http_requests, read_line_log, read_url_list

    p = tmp_path / "u.txt"
    p.write_bytes(b"/a\n" + b"/" + b"x" * (3 << 20) + b"\n/c\n")
    recs = list(read_url_list(p))
    assert [r.text for r in recs] == ["/a", "", "/c"] and recs[1].error.startswith("too_large")

    bomb = tmp_path / "reqs.txt.gz"
    _write_bomb(bomb, line=b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    recs, peak = _peak_during(lambda: list(read_http_requests(bomb)))
    assert len(recs) == 1 and recs[0].error.startswith("compression_ratio")
    assert peak < 48 << 20

    logbomb = tmp_path / "x.log.gz"
    _write_bomb(logbomb, mib=24, line=b"INFO all good\n")
    recs = list(read_line_log(logbomb))
    assert recs[-1].error.startswith("compression_ratio") and len(recs) > 1000


def test_pcap_gzip_bomb_is_an_error_record(tmp_path):
    import struct

    from secllm.data.readers import read_pcap

    # a valid pcap header and one 60 KB all-zero Ethernet frame, repeated: compresses ~1000x
    frame = b"\x00" * 60000
    rec = struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame
    p = tmp_path / "bomb.pcap.gz"
    with gzip.open(p, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for _ in range(600):
            f.write(rec)
    recs = list(read_pcap(p))
    assert recs[-1].error is not None and "compression_ratio" in recs[-1].error


def test_cli_detect_argument_with_undecodable_bytes(tiny_web_model):
    """An argument that was not UTF-8 reaches Python as lone surrogates (surrogateescape): it is
    judged as latin-1 and the JSON writer does not crash."""
    from secllm.cli import main

    r = CliRunner().invoke(main, ["detect", "--json", "--model", str(tiny_web_model), "--backend", "torch",
                                  "--no-evidence", "id=1\udcff' or 1=1", "\ud800"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(rows) == 2 and any("invalid_utf8" in w for w in rows[0]["warnings"])


def test_pcap_reassembly_holds_a_bounded_total(tmp_path):
    """Many TCP streams, each under the per-stream cap, no longer add up without bound."""
    from scapy.layers.inet import IP, TCP
    from scapy.utils import wrpcap

    from secllm.data.readers import reassemble_http_from_pcap

    req = b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n" + b"x" * 900
    pkts = [IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000 + i, dport=80, flags="PA", seq=1) / req
            for i in range(40)]
    p = tmp_path / "many.pcap"
    wrpcap(str(p), pkts)
    recs = list(reassemble_http_from_pcap(p, max_total_bytes=10 * len(req)))
    assert sum(r.error is None for r in recs) == 10
    assert recs[-1].error.startswith("too_large") and str(30 * len(req)) in recs[-1].error
