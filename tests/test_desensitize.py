"""Tests for secllm.data.desensitize: what is masked, what is left alone, and that it stays fast."""

from __future__ import annotations

import random
import time

import pytest

from secllm.data.desensitize import KINDS, desensitize, find_sensitive


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # IPv4: valid dotted quads only, not versions or longer dotted numbers.
        ("from 10.0.0.7 port 22", "from <ipv4> port 22"),
        ("GET http://192.168.1.20:8080/x", "GET http://<ipv4>:8080/x"),
        ("connect to 8.8.8.8.", "connect to <ipv4>."),
        ("ver 1.2.3 and 1.2.3.4.5", "ver 1.2.3 and 1.2.3.4.5"),
        ("256.1.1.1 999.1.1.1", "256.1.1.1 999.1.1.1"),
        # IPv6: full, compressed, loopback, zone, embedded IPv4; not times, not C++/slices.
        ("src 2001:0db8:0000:0000:0000:ff00:0042:8329 ok", "src <ipv6> ok"),
        ("dst 2001:db8::1 and fe80::1%eth0", "dst <ipv6> and <ipv6>"),
        ("[::1]:80 ::ffff:10.0.0.1", "[<ipv6>]:80 <ipv6>"),
        ("at 12:30:45 and 10:20", "at 12:30:45 and 10:20"),
        ("std::string x[1::2]", "std::string x[1::2]"),
        # MAC in colon, dash and Cisco dot forms.
        ("HWaddr aa:bb:cc:dd:ee:ff", "HWaddr <mac>"),
        ("AA-BB-CC-DD-EE-0F aabb.ccdd.eeff", "<mac> <mac>"),
        # E-mail.
        ("mail john.doe+x@mail.example.co.uk, a@b", "mail <email>, a@b"),
        # Secrets.
        (
            "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U!",
            "jwt <secret>!",
        ),
        ("key AKIAIOSFODNN7EXAMPLE.", "key <secret>."),
        ("Authorization: Bearer abc.def-ghi\r\nHost: x", "Authorization: Bearer <secret>\r\nHost: x"),
        ("authorization: basic dXNlcjpwYXNz", "authorization: basic <secret>"),
        ('Authorization: Digest username="bob", realm="x"\nA: b', "Authorization: Digest <secret>\nA: b"),
        ('{"Authorization": "Bearer xyz", "a": 1}', '{"Authorization": "Bearer <secret>", "a": 1}'),
        ("curl -H 'x' bearer AbCdEfGhIjKlMnOpQrSt", "curl -H 'x' bearer <secret>"),
        (
            "password=hunter2&user=bob&passwd=x&pwd=y&token=z&api_key=k&apikey=k2&secret=s&session=abc",
            "password=<secret>&user=bob&passwd=<secret>&pwd=<secret>&token=<secret>&api_key=<secret>"
            "&apikey=<secret>&secret=<secret>&session=<secret>",
        ),
        ("PASSWORD=Q db_password=w X-Api-Key: k", "PASSWORD=<secret> db_password=<secret> X-Api-Key: <secret>"),
        ("compass=1 bypass=2 user=bob", "compass=1 bypass=2 user=bob"),
        (
            '{"user": "root", "password": "s3 cr3t", "token": 12345}',
            '{"user": "root", "password": "<secret>", "token": <secret>}',
        ),
        ("Cookie: PHPSESSID=deadbeef; theme=dark", "Cookie: PHPSESSID=<secret>; theme=dark"),
        (
            "a -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY----- b",
            "a <secret> b",
        ),
        ("-----BEGIN PRIVATE KEY-----\nMIIEowIBAAKCAQEA7abcdefgh\nthen words", "<secret>\nthen words"),
        ("sid 5f4dcc3b5aa765d61d8327deb882cf99 end", "sid <secret> end"),
        ("blob dGhpcyBpcyBhIHNlY3JldCB0b2tlbiAxMjM0NTY3ODkw end", "blob <secret> end"),
        # Look-alikes that must stay.
        ("zeros 00000000000000000000000000000000", "zeros 00000000000000000000000000000000"),
        ("ThisIsAVeryLongCamelCaseIdentifierName1", "ThisIsAVeryLongCamelCaseIdentifierName1"),
        ("/api/v1/Users/12345/ProfileSettingsX", "/api/v1/Users/12345/ProfileSettingsX"),
        ("plain text, nothing here", "plain text, nothing here"),
        ("", ""),
    ],
)
def test_desensitize(raw: str, expected: str) -> None:
    assert desensitize(raw) == expected


# Issue 18: personal numbers (phone, PRC ID, payment card, US SSN) and provider-prefixed API keys.
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tel 13812345678.", "tel <phone>."),
        ("+86 13812345678 / 008613812345678", "<phone> / <phone>"),
        ("call +1 415 555 2671 or +44 20 7946 0958", "call <phone> or <phone>"),
        ("(415) 555-2671, 415-555-2671, 415.555.2671", "<phone>, <phone>, <phone>"),
        ("id=110101199003074514&x=1", "id=<id_number>&x=1"),
        ("card 4111 1111 1111 1111 exp", "card <card> exp"),
        ("4111-1111-1111-1111 5500005555555559 378282246310005", "<card> <card> <card>"),
        ("ssn 123-45-6789;", "ssn <ssn>;"),
        ("key=sk_live_4eC39HqLyjWDarjtT1zdp7dc ghp_" + "a1B2" * 9, "key=<secret> <secret>"),
        ("stripe sk_test_abcdefghijklmnop", "stripe <secret>"),
    ],
)
def test_personal_numbers_are_masked(raw: str, expected: str) -> None:
    assert desensitize(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "price 12345 qty 3 total 37035",
        "2023-10-10 12:30:45 20231010 10/10/2023 2023/10/10",
        "order 1234567890123456",                       # 16 digits, Luhn fails
        "order ORD-2023-000123 invoice INV-0001234567",
        "ts 1700000000000 ms, epoch 1700000000",
        "12345678901 and 23456789012",                   # 11 digits, not a mobile number plan
        "110101199003074515",                            # ID number with a wrong check character
        "000-12-3456 666-12-3456 900-12-3456 123-00-4567",   # never-issued SSN ranges
        "1 2 3 4 5 6 7 8 9 1 2 3 4 5 6",               # a list of small numbers
        "v1.2.3.4567 3.14159265358979 0.13812345678",
        "q=1+2147483647&page=2",
        "+1 and +33",
        "/item/7/4111111111111111111111",                # 22 digits: not a card
    ],
)
def test_ordinary_numbers_survive(raw: str) -> None:
    assert desensitize(raw) == raw


def test_model_input_kinds_keep_the_training_time_masking() -> None:
    from secllm.data.desensitize import MODEL_INPUT_KINDS

    text = "a@b.io 13812345678 4111111111111111"
    assert desensitize(text, MODEL_INPUT_KINDS) == "<email> 13812345678 4111111111111111"
    assert desensitize(text) == "<email> <phone> <card>"


def test_find_sensitive_spans_and_kinds() -> None:
    text = "ip 10.0.0.1 mac aa:bb:cc:dd:ee:ff v6 ::1 mail a@b.io password=x"
    hits = find_sensitive(text)
    assert [k for _, _, k in hits] == ["ipv4", "mac", "ipv6", "email", "secret"]
    assert [text[a:b] for a, b, _ in hits] == ["10.0.0.1", "aa:bb:cc:dd:ee:ff", "::1", "a@b.io", "x"]
    assert all(k in KINDS for _, _, k in hits)


def test_overlaps_longest_first() -> None:
    # The password value contains an IP; the longer secret span wins and spans never overlap.
    text = "password=10.0.0.1:secret@example.com"
    assert find_sensitive(text) == [(9, len(text), "secret")]
    text = "session=10.0.0.1"  # equal length: one deterministic winner
    assert len(find_sensitive(text)) == 1


def test_idempotent() -> None:
    text = "password=x from 10.0.0.1 mail a@b.io Authorization: Bearer t0k3n"
    once = desensitize(text)
    assert desensitize(once) == once


def test_never_raises_on_random_text() -> None:
    rng = random.Random(0)
    alphabet = list("0123456789abcdefABCDEF:.-@=\"' \n%_/+eyJAKIPRVTEpassword") + ["\ud800", "\x00", "\u00e9"]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))
        hits = find_sensitive(text)
        for (a, b, _), (c, _, _) in zip(hits, hits[1:]):
            assert a < b <= c
        desensitize(text)


@pytest.mark.parametrize(
    "unit",
    ["a", "1.", ":", "1:", "a@", "eyJ", "f0", "aZ9", " ", '"', "password=", "Authorization: ",
     "-----BEGIN PRIVATE KEY-----", "1", "+1", "+1 2", "4111 ", "1-", "123-45-", "(415) ", "xoxb-", "sk_live_"],
)
def test_linear_time_on_hostile_input(unit: str) -> None:
    text = (unit * (200_000 // len(unit) + 1))[:200_000]
    start = time.thread_time()           # CPU time: a loaded CI machine stretches wall time, not this
    find_sensitive(text)
    assert time.thread_time() - start < 2.0


def test_one_megabyte_mixed_log() -> None:
    rng = random.Random(1)
    words = ["GET", "/index.php?id=1", "10.0.0.1", "user@example.com", "fe80::1", "aa:bb:cc:dd:ee:ff",
             "password=x", "the", "12:30:45", "5f4dcc3b5aa765d61d8327deb882cf99"]
    text = " ".join(rng.choice(words) for _ in range(120_000))[:1_000_000]
    start = time.thread_time()
    out = desensitize(text)
    assert time.thread_time() - start < 4.0
    assert "10.0.0.1" not in out and "user@example.com" not in out
