"""Known scanner signatures (OWASP CRS 913 lists) on top of the model's verdicts."""

import json

import pytest
from click.testing import CliRunner

from secllm.cli import main
from secllm.data.http import split_web_input
from secllm.detect.detector import WebAttackDetector
from secllm.detect.signatures import USER_AGENTS, match_parts

NIKTO = ("GET / HTTP/1.1\r\nUser-Agent: Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:Port Check)\r\n"
         "Connection: Keep-Alive\r\nHost: example.org\r\n\r\n")
BROWSER = ("GET /index.html?lang=en HTTP/1.1\r\nHost: example.org\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; "
           "Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\r\n\r\n")


def hits(text, kind="auto"):
    return match_parts(split_web_input(text, kind, with_target=True)[1], text)


def test_user_agent_hit_points_at_the_tool_name():
    (h,) = hits(NIKTO)
    assert (h.name, h.rule, h.part) == ("nikto", "913100", "header:user-agent")
    assert NIKTO[h.start:h.end] == "Nikto"


def test_marker_header_name_and_value_and_scanner_paths():
    req = "GET /x HTTP/1.1\r\nHost: a\r\nX-Scanner: 1\r\nAcunetix-Product: WVS/12\r\n\r\n"
    found = {(h.name, h.rule): req[h.start:h.end] for h in hits(req)}
    assert found == {("x-scanner", "913110"): "X-Scanner", ("acunetix-product", "913110"): "Acunetix-Product"}
    url = "/cgi-bin/nessustest?a=1"
    (h,) = hits(url)
    assert (h.name, h.rule, url[h.start:h.end]) == ("/nessustest", "913120", "/nessustest")
    assert hits("/w00tw00t.at.ISC.SANS.DFind:)", "url")[0].rule == "913120"


def test_ordinary_clients_and_lookalikes_do_not_match():
    assert hits(BROWSER) == []
    # the tool name outside the User-Agent (a search for it) is not a signature
    assert hits("GET /search?q=how+to+use+sqlmap HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8.4.0\r\n\r\n") == []
    assert hits("GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: QQGameHall\r\n\r\n") == []     # left out on purpose
    assert "QQGameHall" not in USER_AGENTS


@pytest.fixture(scope="module")
def det():
    return WebAttackDetector.load()


def test_scanner_request_is_flagged_with_evidence_and_can_be_turned_off(det):
    r = det.detect([NIKTO, BROWSER])
    assert (r[0].label, r[0].attack_type, r[0].stage, r[0].signatures) == ("malicious", "scanner", "signature",
                                                                           ["nikto"])
    assert r[0].score == 1.0 and [e.text for e in r[0].evidence] == ["Nikto"]
    assert r[1].signatures == [] and r[1].stage != "signature"
    det.signatures = False
    try:
        off = det.detect([NIKTO])[0]
    finally:
        det.signatures = True
    assert off.signatures == [] and off.stage != "signature" and off.attack_type != "scanner"


def test_an_attack_keeps_its_type_and_lists_the_scanner(det):
    req = ("GET /item?id=1%27%20UNION%20SELECT%20username,password%20FROM%20users--%20 HTTP/1.1\r\nHost: a\r\n"
           "User-Agent: sqlmap/1.7.2#stable (https://sqlmap.org)\r\n\r\n")
    r = det.detect([req])[0]
    assert r.label == "malicious" and r.attack_type == "sqli" and r.signatures == ["sqlmap"]
    assert r.stage != "signature" and r.part == "query:id"


def test_cli_json_carries_signatures_and_the_off_switch():
    out = CliRunner().invoke(main, ["detect", "--json", NIKTO])
    assert out.exit_code == 0, out.output
    d = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")][0]
    assert d["signatures"] == ["nikto"] and d["attack_type"] == "scanner" and d["label"] == "malicious"
    out = CliRunner().invoke(main, ["detect", "--json", "--no-signatures", NIKTO])
    d = [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")][0]
    assert d["signatures"] == [] and d["attack_type"] != "scanner"


def test_restricted_files_in_the_decoded_path_only():
    (h,) = hits("GET /.env HTTP/1.1\r\nHost: a\r\n\r\n")
    assert (h.name, h.rule) == ("/.env", "930130")
    assert [x.name for x in hits("/a/%2egit/config")] == ["/.git/"]           # URL-decoded as CRS does
    assert [x.name for x in hits("/x/..%2f.git/HEAD")] == ["/.git/"]          # and path-normalised
    assert hits("/index.html?f=.env") == [] and hits("/.well-known/security.txt") == []
    assert hits("/.env", "payload") == []                                     # a value is not a filename


def test_restricted_file_probe_is_flagged(det):
    r = det.detect(["GET /.git/config HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8.4.0\r\n\r\n"])[0]
    assert (r.label, r.attack_type, r.signatures) == ("malicious", "restricted-file", ["/.git/"])
    assert [e.text for e in r.evidence] == ["/.git/"]


def test_restricted_extensions_only_when_asked_and_backup_files():
    req = "GET /tienda1/miembros/imagenes/zarandeo.jsp.BAK HTTP/1.1\r\nHost: a\r\n\r\n"
    assert hits(req) == []                                                   # off by default
    hits_ext = lambda t: match_parts(split_web_input(t, "auto", with_target=True)[1], t, extensions=True)  # noqa
    (h,) = hits_ext(req)
    assert (h.name, h.rule, req[h.start:h.end]) == ("*.bak", "920440", ".BAK")
    assert [(x.name, x.rule) for x in hits("/index.php~")] == [("*~", "920500")]
    assert [x.name for x in hits_ext("/db/dump.sql?x=1")] == ["*.sql"]             # the basename, not the query
    assert hits_ext("/static/app.js") == [] and hits_ext("/a.bak/c.html") == [] and hits_ext("/q?f=x.bak") == []


def test_cli_restricted_extensions_switch():
    req = "GET /backup/site.bak HTTP/1.1\r\nHost: a\r\n\r\n"
    out = {}
    for extra in ([], ["--restricted-extensions"]):
        r = CliRunner().invoke(main, ["detect", "--json", *extra, req])
        assert r.exit_code == 0, r.output
        out[bool(extra)] = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")][0]
    assert out[False]["signatures"] == [] and out[True]["signatures"] == ["*.bak"]
    assert out[True]["label"] == "malicious"
