"""Issue 18, item 7 (data half): learned profiles keep no raw values, and their files are private.

Known secrets go through every place a profile learns from (query and body values, enumerations,
cookies, headers, JSON bodies, paths, parameter names, log lines); none of them may be found in
any file of the profile, which must be 0600 in a 0700 folder.
"""

from __future__ import annotations

import json
import random
import stat
from pathlib import Path

import pytest

from secllm.profile import ProfileScorer, learn_profile, load_profile

SECRETS = {
    "email": "alice.secret@example.com",
    "stripe": "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
    "ssn": "123-45-6789",
    "phone": "13812345678",
    "card": "4111111111111111",
    "cn_id": "110101199003074514",
    "ip": "203.0.113.77",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


def _req(method, target, body="", ctype="application/x-www-form-urlencoded", extra=()):
    head = [f"{method} {target} HTTP/1.1", "Host: shop.example", "User-Agent: Mozilla/5.0",
            f"Cookie: sid=abc; mail={SECRETS['email']}", f"X-Forwarded-For: {SECRETS['ip']}", *extra]
    if body:
        head += [f"Content-Type: {ctype}", f"Content-Length: {len(body)}"]
    return "\r\n".join(head) + "\r\n\r\n" + body


def _traffic(n: int, seed: int) -> list[str]:
    """Every request carries the secrets, several of them in enumeration-like parameters (a single
    value repeated: what used to be stored as is)."""
    rng = random.Random(seed)
    s = SECRETS
    out = []
    for i in range(n):
        k = i % 5
        if k == 0:
            out.append(_req("GET", f"/account?email={s['email']}&key={s['stripe']}&ssn={s['ssn']}"
                                   f"&sort={rng.choice(['asc', 'desc'])}"))
        elif k == 1:
            out.append(_req("POST", "/pay", f"card={s['card']}&phone={s['phone']}&id={s['cn_id']}&token={s['jwt']}"))
        elif k == 2:
            body = json.dumps({"user": {"mail": s["email"], "ssn": s["ssn"]}, "n": rng.randint(1, 9)})
            out.append(_req("POST", "/api/v1/profile", body, "application/json"))
        elif k == 3:
            out.append(_req("GET", f"/reset/{s['email']}/confirm?{s['stripe']}=1&from={s['ip']}"))
        else:
            out.append(_req("GET", f"/files/report.{s['stripe']}", extra=(f"X-{s['stripe']}: 1",)))
    return out


def _assert_private(d: Path) -> None:
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = [p for p in d.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        data = p.read_bytes()
        for kind, secret in SECRETS.items():
            assert secret.encode() not in data, f"{kind} found in {p.name}"
        assert b"4111 1111" not in data and b"alice" not in data and b"sk_live" not in data


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("SECLLM_HOME", str(tmp_path / "home"))


def test_web_profile_stores_no_secrets_and_is_private(tmp_path):
    learn_profile(_traffic(200, 0), "acct", use_model=False)          # under $SECLLM_HOME/profiles
    root = tmp_path / "home" / "profiles"
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    _assert_private(root / "acct")
    learn_profile(_traffic(200, 0), "acct2", out_dir=tmp_path / "out" / "p", use_model=False)
    _assert_private(tmp_path / "out" / "p")


def test_fingerprinted_profile_still_detects(tmp_path):
    """Enumerations still work on fingerprints: a known value passes, a new one is flagged."""
    prof = learn_profile(_traffic(200, 0), "acct", out_dir=tmp_path / "p", use_model=False)
    scorer = ProfileScorer(load_profile(tmp_path / "p"))
    s = SECRETS
    same, new_sort, other_mail = scorer.score([
        _req("GET", f"/account?email={s['email']}&key={s['stripe']}&ssn={s['ssn']}&sort=asc"),
        _req("GET", f"/account?email={s['email']}&key={s['stripe']}&ssn={s['ssn']}&sort=zzz"),
        _req("GET", f"/account?email=bob@corp.org&key={s['stripe']}&ssn={s['ssn']}&sort=desc"),
    ])
    assert not any("enumeration" in e for e in same.evidence)
    assert any("`sort`" in e and "enumeration" in e and "`zzz`" in e for e in new_sort.evidence), new_sort.evidence
    # another e-mail is the same (masked) kind of value: not a new enumeration member
    assert not any("`email`" in e and "enumeration" in e for e in other_mail.evidence)
    assert prof.structure.key and len(prof.structure.key) == 32


def test_evidence_masks_values(tmp_path):
    learn_profile(_traffic(200, 0), "acct", out_dir=tmp_path / "p", use_model=False)
    scorer = ProfileScorer(load_profile(tmp_path / "p"))
    (r,) = scorer.score([_req("GET", "/account?email=x&key=y&ssn=234-56-7891&sort=" + "b" * 30 + "@evil.example.com")])
    text = " ".join(r.evidence)
    assert "234-56-7891" not in text and "@evil.example.com" not in text


def test_log_profile_stores_no_raw_addresses_or_mails(tmp_path):
    rng = random.Random(0)
    lines = [f"sshd[{rng.randint(100, 999)}]: Accepted password for {SECRETS['email']} from {SECRETS['ip']} "
             f"port {rng.choice([22, 2222])} ssh2 token={SECRETS['stripe']}" for _ in range(300)]
    prof = learn_profile(lines, "auth", out_dir=tmp_path / "l", fmt="log")
    _assert_private(tmp_path / "l")
    scorer = ProfileScorer(prof)
    odd_line = lines[0].replace("port 22 ", "port 8443 ").replace("port 2222 ", "port 8443 ")
    normal, odd = scorer.score([lines[0], odd_line])
    assert normal.verdict == "normal"
    assert any("8443" in e for e in odd.evidence), odd.evidence


def test_profiles_written_before_the_fix_are_fingerprinted_on_load(tmp_path):
    """A version-1 profile kept raw enumeration values: they are fingerprinted when loaded, and
    scoring behaves as before."""
    prof = learn_profile(_traffic(200, 0), "acct", out_dir=tmp_path / "p", use_model=False)
    doc = json.loads((tmp_path / "p" / "profile.json").read_text())
    sort_fp = doc["structure"]["endpoints"]["/account"]["params"]["query:sort"]
    assert len(sort_fp["values"]) == 2 and all(len(k) == 16 for k in sort_fp["values"])
    del doc["structure"]["key"]                            # what a v1 file looked like
    sort_fp["values"] = {"asc": 25, "desc": 25}
    (tmp_path / "p" / "profile.json").write_text(json.dumps(doc))
    from secllm.profile.structure import parse_observation

    structure = load_profile(tmp_path / "p").structure
    s = SECRETS

    def sort_findings(value):
        target = f"/account?email={s['email']}&key={s['stripe']}&ssn={s['ssn']}&sort={value}"
        return [f for f in structure.score(parse_observation(_req("GET", target)))[1]
                if f.component == "enum" and "`sort`" in f.text]

    assert sort_findings("asc") == [] and len(sort_findings("x")) == 1
    assert prof.kind == "web"
