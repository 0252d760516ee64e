"""Tests for secllm.data.readers on tiny fixtures built here (no shared datasets needed)."""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path

import pytest

from secllm.data.readers import (
    parse_access_log_line,
    read_cti_text,
    read_http_requests,
    read_jsonl,
    read_line_log,
    read_payload_csv,
    read_pcap,
    read_script_files,
    read_url_list,
    reassemble_http_from_pcap,
    split_sentences,
)
from secllm.data.records import Record

scapy_inet = pytest.importorskip("scapy.layers.inet")
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import ARP, Ether  # noqa: E402
from scapy.utils import wrpcap, wrpcapng  # noqa: E402

CLIENT, SERVER = "10.1.2.3", "192.168.77.88"
CMAC, SMAC = "00:11:22:33:44:55", "66:77:88:99:aa:bb"
CPORT, SPORT = 43210, 8080
SEQ, ACK = 123456789, 987654321
TSVAL, TSECR = 0x11223344, 0x55667788
REQUEST = b"GET /x?id=1%27 HTTP/1.1\r\nHost: shop\r\nUser-Agent: sqlmap\r\n\r\n"


def _gz(path: Path) -> Path:
    out = path.with_name(path.name + ".gz")
    out.write_bytes(gzip.compress(path.read_bytes()))
    return out


def _packets() -> list:
    """Client request split over two TCP segments, a retransmission, the reply, UDP, IPv6, ARP."""
    c2s = Ether(src=CMAC, dst=SMAC) / IP(src=CLIENT, dst=SERVER, id=4321)
    s2c = Ether(src=SMAC, dst=CMAC) / IP(src=SERVER, dst=CLIENT, id=999)
    opts = [("Timestamp", (TSVAL, TSECR))]
    first, second = REQUEST[:20], REQUEST[20:]
    pkts = [
        c2s / TCP(sport=CPORT, dport=SPORT, flags="S", seq=SEQ - 1, options=opts),
        s2c / TCP(sport=SPORT, dport=CPORT, flags="SA", seq=ACK - 1, ack=SEQ),
        # second segment arrives first, then the first, then a retransmission of the first
        c2s / TCP(sport=CPORT, dport=SPORT, flags="PA", seq=SEQ + len(first), ack=ACK,
                  options=opts) / second,
        c2s / TCP(sport=CPORT, dport=SPORT, flags="PA", seq=SEQ, ack=ACK, options=opts) / first,
        c2s / TCP(sport=CPORT, dport=SPORT, flags="PA", seq=SEQ, ack=ACK, options=opts) / first,
        s2c / TCP(sport=SPORT, dport=CPORT, flags="PA", seq=ACK, ack=SEQ + len(REQUEST))
        / b"HTTP/1.1 200 OK\r\n\r\n",
        Ether(src=CMAC, dst=SMAC) / IP(src=CLIENT, dst="8.8.8.8") / UDP(sport=5353, dport=53) / b"dnsq",
        Ether(src=CMAC, dst=SMAC) / IPv6(src="2001:db8::1", dst="2001:db8::2", fl=0xABCDE)
        / UDP(sport=1, dport=2) / b"v6",
        Ether(src=CMAC, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=CMAC, psrc=CLIENT, pdst=SERVER),
    ]
    for i, p in enumerate(pkts):
        p.time = 1_700_000_000 + i
    return pkts


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pcap") / "tiny.pcap"
    wrpcap(str(path), _packets())
    return path


def _addresses() -> list[bytes]:
    return [
        socket.inet_aton(CLIENT), socket.inet_aton(SERVER), socket.inet_aton("8.8.8.8"),
        socket.inet_pton(socket.AF_INET6, "2001:db8::1"), bytes.fromhex(CMAC.replace(":", "")),
        bytes.fromhex(SMAC.replace(":", "")), SEQ.to_bytes(4, "big"), ACK.to_bytes(4, "big"),
        TSVAL.to_bytes(4, "big"), TSECR.to_bytes(4, "big"),
    ]


def test_pcap_packets_are_masked(capture: Path) -> None:
    recs = list(read_pcap(capture))
    assert len(recs) == 9 and all(r.error is None for r in recs)
    for r in recs:
        assert r.modality == "pcap" and r.text == r.data.hex(" ")
        for secret in _addresses():
            assert secret not in r.data, (r.id, secret)
    tcp = recs[2]
    ip, l4 = 14, 14 + 20
    assert tcp.data[ip + 4 : ip + 6] == b"\0\0"  # IP id
    assert tcp.data[ip + 10 : ip + 20] == bytes(10)  # checksum + addresses
    assert tcp.data[l4 : l4 + 12] == bytes(12)  # ports, seq, ack
    assert tcp.data.endswith(REQUEST[20:])  # the L7 payload is kept
    assert tcp.meta["proto"] == "tcp" and tcp.meta["payload_len"] == len(REQUEST) - 20
    assert recs[0].group == recs[5].group != recs[6].group  # packets grouped by flow
    assert recs[7].meta["l3"] == "ipv6" and b"\x0a\xbc\xde" not in recs[7].data  # flow label
    assert recs[8].meta["l3"] == "arp"
    assert recs[0].time == pytest.approx(1_700_000_000)


def test_pcap_max_bytes_and_endpoints(capture: Path) -> None:
    r = next(iter(read_pcap(capture, max_bytes=20, keep_endpoints=True)))
    assert len(r.data) == 20
    assert r.meta["endpoints"] == {"src": CLIENT, "sport": CPORT, "dst": SERVER, "dport": SPORT}


def test_pcap_flows_concatenate_l7_bytes(capture: Path) -> None:
    flows = list(read_pcap(capture, mode="flows"))
    assert [f.modality for f in flows] == ["flow"] * 3
    tcp = flows[0]
    # capture order (second segment first), retransmission included: the USTC-TFC "L7" view
    assert tcp.data == REQUEST[20:] + REQUEST[:20] + REQUEST[:20] + b"HTTP/1.1 200 OK\r\n\r\n"
    assert tcp.meta["packets"] == 6 and tcp.meta["directions"] == [0, 1, 0, 0, 0, 1]
    assert len(tcp.meta["sizes"]) == 6 and tcp.meta["proto"] == "tcp"
    assert flows[1].data == b"dnsq" and flows[2].data == b"v6"
    short = list(read_pcap(capture, mode="flows", max_bytes=10))
    assert short[0].data == REQUEST[20:30]


def test_pcapng_and_gzip_give_the_same_records(capture: Path, tmp_path: Path) -> None:
    ng = tmp_path / "tiny.pcapng"
    wrpcapng(str(ng), _packets())
    want = [r.data for r in read_pcap(capture)]
    assert [r.data for r in read_pcap(ng)] == want
    assert [r.data for r in read_pcap(_gz(ng))] == want
    assert [r.data for r in read_pcap(_gz(capture), mode="flows")] == [
        r.data for r in read_pcap(capture, mode="flows")
    ]


@pytest.mark.parametrize("mode", ["packets", "flows"])
def test_truncated_pcap_yields_what_it_read_then_an_error(
    capture: Path, tmp_path: Path, mode: str
) -> None:
    raw = capture.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(raw[:-10])  # the last packet is cut short
    recs = list(read_pcap(cut, mode=mode))
    assert recs[-1].error and recs[-1].text == ""
    assert all(r.error is None for r in recs[:-1]) and len(recs) > 1
    cut.write_bytes(raw[:-len(bytes(_packets()[-1])) - 8])  # cut inside a record header
    assert list(read_pcap(cut))[-1].error


def test_truncated_gzip_and_garbage_files(capture: Path, tmp_path: Path) -> None:
    gz = _gz(capture)
    broken = tmp_path / "broken.pcap.gz"
    broken.write_bytes(gz.read_bytes()[:-30])
    recs = list(read_pcap(broken))
    assert recs[-1].error is not None
    junk = tmp_path / "junk.pcap"
    junk.write_bytes(b"this is not a capture at all")
    (only,) = list(read_pcap(junk))
    assert only.error and "pcap" in only.error
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert list(read_pcap(empty))[-1].error
    with pytest.raises(ValueError):
        list(read_pcap(capture, mode="sessions"))


def test_reassemble_http_from_pcap(capture: Path) -> None:
    recs = list(reassemble_http_from_pcap(capture))
    assert len(recs) == 1
    (r,) = recs
    assert r.modality == "http" and r.text == REQUEST.decode()
    assert r.meta["method"] == "GET" and r.meta["target"] == "/x?id=1%27"


def test_url_list_with_invalid_utf8_and_gzip(tmp_path: Path) -> None:
    p = tmp_path / "urls.txt"
    p.write_bytes(b"/a?q=1\r\n\n/caf\xe9?x=\xff\n/ok?\xc3\xa9=1\n")
    for path in (p, _gz(p)):
        recs = list(read_url_list(path))
        assert [r.text for r in recs] == ["/a?q=1", "/caf\xe9?x=\xff", "/ok?\u00e9=1"]
        assert recs[1].meta["encoding"] == "latin-1" and "encoding" not in recs[2].meta
        assert [r.id for r in recs] == ["urls:1", "urls:3", "urls:4"]


def test_truncated_gzip_text_yields_error_record(tmp_path: Path) -> None:
    p = tmp_path / "big.txt"
    p.write_text("".join(f"/page{i}?a={i * 7919}\n" for i in range(5000)))
    broken = tmp_path / "big.txt.gz"
    broken.write_bytes(gzip.compress(p.read_bytes())[:-100])
    recs = list(read_url_list(broken))
    assert recs[-1].error and all(r.error is None for r in recs[:-1])


def test_jsonl_bad_lines_continue(tmp_path: Path) -> None:
    p = tmp_path / "d.jsonl"
    p.write_bytes(
        b'{"id": "a1", "text": "hello", "label": 1, "file": "x.ps1"}\n'
        b"{not json\n"
        b"[1, 2]\n"
        b'{"label": "no text"}\n'
        b'{"text": {"nested": true}, "group": "g"}\n'
        b'{"text": "caf\xe9"}\n'
    )
    recs = list(read_jsonl(_gz(p), group_field="group"))
    assert [r.error is None for r in recs] == [True, False, False, False, True, True]
    assert (recs[0].id, recs[0].text, recs[0].label, recs[0].meta["file"]) == ("a1", "hello", "1", "x.ps1")
    assert recs[1].id == "d:2"
    assert recs[4].text == '{"nested": true}' and recs[4].group == "g"
    assert recs[5].text == "caf\xe9" and recs[5].meta["encoding"] == "latin-1"
    for r in recs:
        assert isinstance(r, Record) and (r.error is None or r.text == "")


def test_payload_csv(tmp_path: Path) -> None:
    p = tmp_path / "payload_x.csv"
    huge = "A" * 200_000  # over the csv module's field limit: one bad row, not a crash
    p.write_text(f'payload,label,attack_type\n"a,b",norm,norm\n{huge},anom,x\n<script>,anom,xss\n')
    recs = list(read_payload_csv(_gz(p), label_col="label"))
    assert recs[0].text == "a,b" and recs[0].label == "norm" and recs[0].meta == {"attack_type": "norm"}
    assert recs[1].error is not None
    assert recs[-1].text == "<script>" and recs[-1].meta["attack_type"] == "xss"
    assert recs[0].id == "payload_x:0"
    with pytest.raises(ValueError):
        list(read_payload_csv(p, text_col="nope"))


def test_parse_access_log_line() -> None:
    combined = (
        '203.0.113.9 - bob [10/Oct/2023:13:55:36 +0200] "GET /a.php?id=1%27%20or%201=1 HTTP/1.1" '
        '200 2326 "http://ref/" "Mozilla/5.0 \\"quoted\\""'
    )
    d = parse_access_log_line(combined)
    assert d is not None
    assert (d["ip"], d["user"], d["method"], d["target"], d["protocol"]) == (
        "203.0.113.9", "bob", "GET", "/a.php?id=1%27%20or%201=1", "HTTP/1.1")
    assert d["status"] == 200 and d["size"] == 2326 and d["referer"] == "http://ref/"
    assert d["user_agent"] == 'Mozilla/5.0 \\"quoted\\"'
    assert d["epoch"] == 1696938936.0
    common = '::1 - - [01/Jan/2024:00:00:00 +0000] "\\x16\\x03\\x01" 400 - '
    d = parse_access_log_line(common)
    assert d is not None and d["method"] is None and d["target"] == "\\x16\\x03\\x01"
    assert d["size"] is None and d["user_agent"] is None
    assert parse_access_log_line("[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok") is None


def test_read_line_log_access_bgl_and_plain(tmp_path: Path) -> None:
    access = tmp_path / "access.log"
    access.write_bytes(
        b'1.2.3.4 - - [10/Oct/2023:13:55:36 +0000] "GET /?q=<script> HTTP/1.1" 404 0 "-" "curl/8"\n'
        b"a plain line with \xff byte\n"
    )
    url, plain = list(read_line_log(access))
    assert url.modality == "url" and url.text == "/?q=<script>"
    assert url.meta["ip"] == "1.2.3.4" and url.meta["status"] == 404 and url.meta["user_agent"] == "curl/8"
    assert url.time == 1696946136.0
    assert plain.modality == "log" and plain.text == "a plain line with \xff byte" and plain.time == 2.0
    bgl = tmp_path / "BGL.log"
    bgl.write_text(
        "- 1117838570 2005.06.03 R02 RAS KERNEL INFO cache parity error corrected\n"
        "KERNDTLB 1117838580 2005.06.03 R02 RAS KERNEL FATAL data TLB error interrupt\n"
    )
    normal, alert = list(read_line_log(_gz(bgl), system="BGL"))
    assert (normal.label, alert.label) == ("normal", "KERNDTLB")
    assert alert.text.startswith("1117838580 ") and "KERNDTLB" not in alert.text
    assert alert.time == 1117838580.0 and alert.meta["system"] == "BGL"


def test_read_http_requests(tmp_path: Path) -> None:
    p = tmp_path / "reqs.txt"
    p.write_bytes(
        b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
        b"POST /b HTTP/1.1\r\nContent-Length: 9\r\n\r\nq=\xc3\xa9\r\n\r\nx\n\n"
        b"just some junk\n\n"
        b"GET /c HTTP/1.1\nHost: h\n"
    )
    recs = list(read_http_requests(_gz(p)))
    assert [r.meta.get("target") for r in recs] == ["/a?x=1", "/b", None, "/c"]
    assert recs[1].text.endswith("q=\u00e9\r\n\r\nx")  # Content-Length counted in bytes
    assert recs[2].error and recs[2].meta["raw"] == "just some junk"


def test_read_script_files(tmp_path: Path) -> None:
    (tmp_path / "a.ps1").write_bytes(b"Write-Host 'hi'\n")
    (tmp_path / "b.js").write_bytes(b"var s = '\xe9\xe8';\n")  # latin-1, not UTF-8
    (tmp_path / "c.ps1").write_bytes("Write-Host 'é'".encode("utf-16"))
    (tmp_path / "d.exe").write_bytes(b"MZ\x90\x00\x03\x00\x00\x00")
    (tmp_path / "e.txt").write_bytes(b"x" * 100)
    recs = {Path(r.meta["path"]).name: r for r in read_script_files(tmp_path, max_bytes=50)}
    assert recs["a.ps1"].text == "Write-Host 'hi'\n" and recs["a.ps1"].data == b"Write-Host 'hi'\n"
    assert recs["b.js"].text == "var s = '\xe9\xe8';\n" and recs["b.js"].meta["encoding"] == "latin-1"
    assert recs["c.ps1"].text == "Write-Host 'é'" and recs["c.ps1"].meta["encoding"] == "utf-16"
    assert recs["d.exe"].error == "binary file" and recs["d.exe"].text == ""
    assert "larger than" in (recs["e.txt"].error or "")
    (missing,) = list(read_script_files([tmp_path / "nope.ps1"]))
    assert missing.error and missing.error.startswith("unreadable")


def test_split_sentences_and_read_cti_text(tmp_path: Path) -> None:
    doc = (
        "APT29 used cmd.exe and rundll32.exe to run a.dll, e.g. from C:\\Temp. It beaconed to "
        "evil.com and\n1.2.3.4 every 5 min. Dr. Smith said so!\n\n"
        "- Persistence via Run keys\n- Exfiltration over HTTPS\n"
    )
    want = [
        "APT29 used cmd.exe and rundll32.exe to run a.dll, e.g. from C:\\Temp.",
        "It beaconed to evil.com and 1.2.3.4 every 5 min.",
        "Dr. Smith said so!",
        "- Persistence via Run keys",
        "- Exfiltration over HTTPS",
    ]
    spans = split_sentences(doc)
    assert [" ".join(doc[s:e].split()) for s, e in spans] == want
    p = tmp_path / "report1.txt"
    p.write_text(doc)
    recs = list(read_cti_text(_gz(p)))
    assert [r.text for r in recs] == want
    assert {r.group for r in recs} == {"report1"} and all(r.modality == "cti" for r in recs)
    assert json.dumps([r.to_json() for r in recs])  # records stay JSON-friendly
