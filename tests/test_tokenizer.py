from secllm.tokenizer import SecTokenizer, TAGS


def test_every_input_has_tokens_no_unknowns(tiny_tokenizer):
    # byte-level: arbitrary unicode, control chars and latin-1 decoded bytes all encode without [UNK]
    weird = ["\x00\x01\xff", "日本語のテキスト", "😀 emoji", "\u202e rtl", bytes(range(256)).decode("latin-1")]
    enc = tiny_tokenizer.encode_batch(weird, "payload", max_length=4096)
    for ids, mask in zip(enc.input_ids, enc.attention_mask):
        real = [i for i, m in zip(ids, mask) if m]
        assert tiny_tokenizer.unk_id not in real
        assert len(real) > 3


def test_layout_cls_tag_sep_and_offsets(tiny_tokenizer):
    text = "1' or '1'='1"
    enc = tiny_tokenizer.encode_batch([text, "x"], "payload", max_length=64)
    ids, offs = enc.input_ids[0], enc.offsets[0]
    assert ids[0] == tiny_tokenizer.cls_id
    assert ids[1] == tiny_tokenizer.tag_id("payload")
    n = sum(enc.attention_mask[0])
    assert ids[n - 1] == tiny_tokenizer.sep_id
    # offsets of the content tokens cover the text in order, without gaps
    content = offs[2:n - 1]
    assert content[0][0] == 0 and content[-1][1] == len(text)
    for (a, b), (c, d) in zip(content, content[1:]):
        assert b == c
    # padding of the shorter row
    assert enc.attention_mask[1].count(0) == len(ids) - sum(enc.attention_mask[1])


def test_round_trip_decode(tiny_tokenizer):
    for text in ["<script>alert(1)</script>", "../../etc/passwd", "45 00 00 3c", "ünïcödé"]:
        enc = tiny_tokenizer.encode_batch([text], "payload", max_length=256)
        assert tiny_tokenizer.decode(enc.input_ids[0]) == text


def test_truncation_keeps_sep(tiny_tokenizer):
    enc = tiny_tokenizer.encode_batch(["a b c d e f g h i j k l m n o p" * 10], "log", max_length=16)
    assert len(enc.input_ids[0]) == 16
    assert enc.input_ids[0][-1] == tiny_tokenizer.sep_id


def test_modality_tags_are_single_tokens(tiny_tokenizer):
    vocab = tiny_tokenizer.tok.get_vocab()
    assert all(t in vocab for t in TAGS)


def test_save_load_same_fingerprint(tmp_path, tiny_tokenizer):
    tiny_tokenizer.save(tmp_path)
    again = SecTokenizer.load(tmp_path)
    assert again.fingerprint() == tiny_tokenizer.fingerprint()
    assert again.encode_batch(["' or 1=1"], "payload").input_ids == tiny_tokenizer.encode_batch(["' or 1=1"], "payload").input_ids


def test_special_token_text_in_input_stays_text(tiny_tokenizer):
    # an attacker writing "[MASK]" or "[PAYLOAD]" or "<script>" must not inject control tokens
    enc = tiny_tokenizer.encode_batch(["[MASK] [CLS] [PAYLOAD] <script>"], "payload", max_length=256)
    content = enc.input_ids[0][2:-1]
    assert not set(content) & set(tiny_tokenizer.special_ids)
    assert tiny_tokenizer.decode(enc.input_ids[0]) == "[MASK] [CLS] [PAYLOAD] <script>"
