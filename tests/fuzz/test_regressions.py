"""Regression tests for what the fuzzer found (issue 18). Each input here broke a budget or raised
before its fix; tests/fuzz keeps generating around them."""

from __future__ import annotations

import tracemalloc

import pytest


def _peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        return out, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("reader", ["read_pcap", "reassemble_http_from_pcap"])
def test_pcapng_block_claiming_32_mib_is_an_error_not_an_allocation(tmp_path, reader):
    """A 24-byte pcapng whose section header block claims 0x02000000 bytes: scapy allocated 32 MiB
    for it (4 GiB for 0xfffffff0 on another block)."""
    from secllm.data import readers

    p = tmp_path / "x.pcapng"
    p.write_bytes(b"\n\r\r\n\x00\x00\x00\x02M<+\x1a\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    q = tmp_path / "empty.pcap"
    q.write_bytes(b"")
    list(getattr(readers, reader)(q))                 # warm-up: scapy's imports are not the finding
    recs, peak = _peak(lambda: list(getattr(readers, reader)(p)))
    assert peak < 4 << 20, f"{peak} bytes allocated for a 24-byte file"
    assert recs and recs[-1].error


def test_pcap_record_claiming_2_gib_is_an_error(tmp_path):
    """A guard, not a regression: scapy already bounds classic pcap record reads (4 x MTU)."""
    import struct

    from secllm.data.readers import read_pcap

    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0x7FFFFFFF, 1)
    p = tmp_path / "x.pcap"
    p.write_bytes(header + struct.pack("<IIII", 0, 0, 0x7FFFFFF0, 0x7FFFFFF0) + b"\x00" * 64)
    list(read_pcap(p))                                # warm-up (imports)
    recs, peak = _peak(lambda: list(read_pcap(p)))
    assert peak < 4 << 20 and recs[-1].error


@pytest.mark.parametrize("which", ["scan", "readers"])
def test_csv_header_over_the_field_limit_is_a_stated_error(tmp_path, which):
    """Found while writing the scan fuzz target (the csv field limit, 128 KiB, is above the fuzz
    input cap): a header field over the limit raised ``_csv.Error`` (a traceback in `secllm scan`)."""
    p = tmp_path / "big.csv"
    p.write_text('"' + "a" * 200_000 + '",text\n1,2\n')
    with pytest.raises(ValueError, match="unreadable CSV header"):
        if which == "scan":
            from secllm.scan import iter_scan_items

            list(iter_scan_items(p))
        else:
            from secllm.data.readers import read_payload_csv

            list(read_payload_csv(p, text_col="text"))


def test_desensitize_masks_what_a_tag_makes_recognisable():
    """Fuzzing (desensitize target, masked twice != masked once): a random base64 token glued to an
    e-mail address by ``=`` stayed in clear, because ``=a`` broke its boundary until the address
    was masked."""
    from secllm.data.desensitize import desensitize

    text = "2Ea478A/B48A/9B0013567CD00123569=alice@example.com "
    once = desensitize(text)
    assert "2Ea478A" not in once and desensitize(once) == once
