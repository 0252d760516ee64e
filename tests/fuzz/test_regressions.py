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
    recs, peak = _peak(lambda: list(read_pcap(p)))
    assert peak < 4 << 20 and recs[-1].error
