import json

from secllm.data.corpus import build_corpus, model_text, prepare_text, read_corpus
from secllm.data.records import Record
from secllm.data.sources import registered_domain


def _rec(i, text, split, modality="payload", data=None):
    return Record(id=str(i), modality=modality, text=text, data=data, meta={"split": split})


def test_only_training_rows_enter_the_corpus(tmp_path):
    recs = [_rec(0, "train row one", "train"), _rec(1, "TEST ROW SECRET", "test"), _rec(2, "val row", "val"),
            _rec(3, "train row one", "train")]
    m = build_corpus([("src", recs)], tmp_path, split="train")
    texts = [t for _, t in read_corpus(tmp_path)]
    assert texts == ["train row one"]                      # test/val excluded, exact duplicate dropped
    assert m["rows"] == 1 and m["by_source"] == {"src": 1}
    assert "test row" not in (tmp_path / "corpus.jsonl").read_text().lower()


def test_corpus_is_desensitised(tmp_path):
    recs = [_rec(0, "login from 10.1.2.3 by bob@corp.example token=abcdef0123456789", "train", modality="log")]
    build_corpus([("logs", recs)], tmp_path)
    text = (tmp_path / "corpus.jsonl").read_text()
    assert "10.1.2.3" not in text and "bob@corp.example" not in text
    assert "<ipv4>" in text and "<email>" in text


def test_web_text_is_canonicalised_and_other_modalities_are_not():
    assert model_text("%27%20OR%201=1", "payload") == "' or 1=1"
    assert model_text("Select %27", "log") == "Select %27"
    # lone surrogates (from %uD83D) become U+FFFD, one char for one char
    assert model_text("%uD83D", "payload") == "\ufffd"


def test_long_documents_are_chunked_and_flows_hexed():
    chunks = prepare_text(_rec(0, "A" * 2000, "train", modality="script"))
    assert len(chunks) == 4 and all(len(c) <= 600 for c in chunks)
    flows = prepare_text(_rec(1, "", "train", modality="flow", data=bytes(range(10)) * 100))
    assert flows == [(bytes(range(10)) * 100)[:256].hex(" ")]


def test_registered_domain():
    assert registered_domain("http://a.b.example.co.uk/x") == "example.co.uk"
    assert registered_domain("www.example.com/path?q=1") == "example.com"
    assert registered_domain("http://192.168.0.1/x") == "192.168.0.1"


def test_corpus_file_is_valid_jsonl(tmp_path):
    build_corpus([("s", [_rec(0, "x\ny \"q\"", "train")])], tmp_path)
    for line in (tmp_path / "corpus.jsonl").read_text().splitlines():
        assert set(json.loads(line)) == {"m", "t"}
