import json

from click.testing import CliRunner

from secllm.cli import main


def test_detect_args_json(tiny_web_model):
    r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "--json",
                                  "' or 1=1--", "/index.php?id=5"])
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [x["id"] for x in lines] == ["1", "2"]
    assert all(x["status"] == "ok" for x in lines)


def test_detect_jsonl_stdin_with_bad_lines(tiny_web_model):
    stdin = b'{"id": "a", "text": "<script>alert(1)</script>"}\nnot json\n{"id": "c", "text": ""}\n' \
            b'{"id": "d", "text": "\xff\xfe\' or 1=1--"}\n'
    r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "--jsonl", "--json", "--file", "-"],
                           input=stdin)
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [o["id"] for o in out] == ["a", "2", "c", "d"]
    assert out[0]["status"] == "ok"
    assert out[1]["status"] == "bad_json"
    assert out[2]["status"] == "empty"
    assert out[3]["status"] == "ok" and any("invalid_utf8" in w for w in out[3]["warnings"])


def test_detect_text_file_table(tmp_path, tiny_web_model):
    f = tmp_path / "items.txt"
    f.write_text("john\n../../etc/passwd\n")
    r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "--file", str(f)])
    assert r.exit_code == 0, r.output
    assert "label" in r.stdout and "score" in r.stdout
    assert len([x for x in r.stdout.splitlines() if x.strip()]) >= 4      # header, rule, 2 rows


def test_missing_model_dir_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(main, ["detect", "--model", str(tmp_path), "x"])
    assert r.exit_code != 0
    assert "not a secllm model directory" in r.output


def test_models_info(tiny_web_model):
    r = CliRunner().invoke(main, ["models", "info", str(tiny_web_model)])
    assert r.exit_code == 0 and json.loads(r.stdout)["kind"] == "classifier"


def test_terminal_escapes_in_input_are_neutralised(tiny_web_model):
    r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "\x1b]0;pwned\x07<script>"])
    assert r.exit_code == 0
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout


def test_detect_raw_requests_file(tmp_path, tiny_web_model):
    f = tmp_path / "reqs.http"
    f.write_bytes(b"GET /a?id=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\nuser=admin'--\r\n\r\n"
                  b"GET /c HTTP/1.1\r\nHost: x\r\n\r\n")
    r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "--requests", "--json", "--file", str(f)])
    assert r.exit_code == 0, r.output
    out = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(out) == 3 and all(o["kind"] == "http" and o["status"] == "ok" for o in out)
    assert out[1]["id"].startswith("req2@")


def test_detect_kind_states_what_the_items_are(tiny_web_model):
    """'/etc/passwd' is a URL when guessed, a parameter value when the caller says so."""
    import json as _json

    def kinds(*extra):
        r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "--json", *extra, "/etc/passwd"])
        assert r.exit_code == 0, r.output
        return [_json.loads(x)["kind"] for x in r.stdout.splitlines() if x.startswith("{")]

    assert kinds() == ["url"]
    assert kinds("--kind", "payload") == ["payload"]
    r = CliRunner().invoke(main, ["detect", "--model", str(tiny_web_model), "--kind", "bogus", "x"])
    assert r.exit_code != 0


def test_pretrain_init_continues_a_base_through_the_cli(tmp_path, tiny_base):
    import json

    from secllm.model.modeling import read_meta

    corpus = tmp_path / "corpus" / "train"
    corpus.mkdir(parents=True)
    rows = [{"m": "payload", "t": t} for t in ["' or 1=1--", "john smith", "<script>x</script>"]] * 10
    (corpus / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["pretrain", "--corpus", str(tmp_path / "corpus"), "--out", str(out), "--init",
                                  str(tiny_base), "--steps", "2", "--batch-tokens", "256", "--warmup", "1"])
    assert r.exit_code == 0, r.output
    meta = read_meta(out / "model")
    assert meta["pretrain"]["steps"] == 2 and meta["pretrain"]["init"]["dir"] == str(tiny_base)
    assert meta["model_config"] == read_meta(tiny_base)["model_config"]       # size kept, --size ignored
    assert not (out / "tokenizer").exists()                                     # no new tokenizer trained
    r = CliRunner().invoke(main, ["pretrain", "--corpus", str(tmp_path / "corpus"), "--out", str(out), "--init",
                                  str(tiny_base), "--tokenizer", str(tiny_base)])
    assert r.exit_code != 0 and "keeps the base's tokenizer" in r.output
    r = CliRunner().invoke(main, ["pretrain", "--corpus", str(tmp_path / "corpus"), "--out", str(out),
                                  "--decay-by-time"])
    assert r.exit_code != 0 and "--max-minutes" in r.output
