"""Instruction tuning (secllm.sft) on a tiny randomly initialised Llama and a tokenizer built here.

Nothing is downloaded and ../shared/datasets is not read: data comes from small fixtures below.
"""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from secllm.data.records import Record  # noqa: E402
from secllm.sft.build import OverlapIndex, build_dataset, deduplicate  # noqa: E402
from secllm.sft.chat import IGNORE, encode, flatten, parse_tool_calls  # noqa: E402
from secllm.sft.mcq import MCQ  # noqa: E402
from secllm.sft.records import Instruction, load_split  # noqa: E402
from secllm.sft.sources import incidents, knowledge, labelled, tools  # noqa: E402

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


# ------------------------------------------------------------------------------------------------
# fixtures: a tiny byte-level BPE tokenizer with a ChatML template, a tiny random Llama
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = ["What is SQL injection? Verdict: malicious sqli benign evidence", "判定：恶意 正常 证据 SQL 注入",
              "<tool_call> {\"name\": \"detect\", \"arguments\": {\"text\": \"x\"}} </tool_call> <tool_response>",
              "Answer with the letter A B C D of the correct option", "system user assistant tool"] * 20
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    special = ["<|im_start|>", "<|im_end|>", "<pad>"]
    tk.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=special,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                  pad_token="<pad>")
    tok.chat_template = CHATML
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    d = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


def _knowledge_fn(task, label):
    return {"cwe": ["CWE-89"], "attack": ["T1190"], "tactics": ["initial-access"],
            "severity": {"level": "critical", "score": 9.8},
            "mitigations": [{"id": "M1050", "name": "Exploit Protection"}],
            "refs": [{"id": "CWE-89", "name": "SQL Injection"}, {"id": "T1190", "name": "Exploit Public-Facing Application"}],
            "catalogs": {"attack": "18.1", "cwe": "4.14"}} if label == "sqli" else None


def _judge(texts, spec=None):
    out = []
    for t in texts:
        if "'" in t:
            i = t.index("'")
            out.append({"label": "malicious", "attack_type": "sqli", "score": 0.97, "status": "ok",
                        "evidence": [{"text": t[i:i + 8], "part": "value", "weight": 0.9}]})
        else:
            out.append({"label": "benign", "score": 0.02, "status": "ok", "evidence": []})
    return out


TECH = {"id": "T1190", "name": "Exploit Public-Facing Application", "tactics": ["initial-access"],
        "description": "Adversaries may attempt to exploit a weakness in an Internet-facing host or system.",
        "url": "https://attack.mitre.org/techniques/T1190", "detection": ["Monitor web logs for abnormal requests."],
        "mitigations": [("M1050", "Exploit Protection", "Use application isolation and least privilege.")]}
WEAK = {"id": "CWE-89", "name": "SQL Injection", "url": "https://cwe.mitre.org/data/definitions/89.html",
        "description": "The product constructs all or part of an SQL command using externally-influenced input.",
        "consequences": [(("Confidentiality",), ("Read Application Data",))],
        "detection": [("Automated Static Analysis", "Static analysis tools can find SQL built from input.")],
        "mitigations": [(("Architecture and Design",), "Parameterization", "Use prepared statements.")]}


def _fixture_records():
    recs = [Record(id=f"ds:train:{i}", modality="payload", text=t, label=lab, source="ds", meta={"split": "train"})
            for i, (t, lab) in enumerate([("1' or 1=1--", "sqli"), ("john", "benign"), ("x' union select 1--", "sqli"),
                                          ("madrid", "benign")])]
    spec = labelled.SETS["http_params"]
    out = labelled.explain(recs, spec, judge=_judge, knowledge=_knowledge_fn, seed=0)
    out += knowledge.technique_qa(TECH, version="18.1") + knowledge.weakness_qa(WEAK, version="4.14")
    runner = {"detect": lambda a: _judge([a["text"]])[0],
              "kb_show": lambda a: {"id": a["id"], "name": "Exploit Public-Facing Application",
                                    "description": "Adversaries may ...", "mitigations": [{"id": "M1050", "name": "Exploit Protection"}]},
              "kb_search": lambda a: {"hits": [{"id": "T1190", "name": "Exploit Public-Facing Application"}]},
              "scan": lambda a: {"items": 3, "verdicts": {"malicious": 1, "benign": 2},
                                 "findings": [{"id": "f:1", "label": "malicious", "attack_type": "sqli"}]}}
    out += tools.detect_traces([("ds:train:0", "1' or 1=1--")], runner)
    out += tools.kb_show_traces(["T1190"], runner) + tools.kb_search_traces([("exploit web app", "zh", "T1190")], runner)
    out += tools.scan_traces([("/tmp/x/requests.txt", "scan-0")], runner)
    out += incidents.summaries([{"id": "inc-1", "actors": ["ip-1"], "severity": "high", "stages": [
        {"tactic": "initial-access", "techniques": ["T1190"], "count": 3, "succeeded": True}]}], lang="zh")
    return out


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------
def test_labelled_uses_label_and_agreeing_evidence_only():
    recs = _fixture_records()
    sqli = next(r for r in recs if r.id == "labelled:ds:train:0")
    assert "`' or 1=1`" in sqli.answer and "CWE-89" in sqli.answer and "T1190" in sqli.answer
    assert sqli.provenance["detector"]["agrees"] is True and sqli.provenance["label_source"] == "dataset"
    # a detector that disagrees: the verdict is still the label, and its evidence is not quoted
    bad = lambda texts, spec: [{"label": "benign", "score": 0.1, "status": "ok", "evidence": [{"text": "1' or", "weight": 1}]}]
    rec = Record(id="ds:train:9", modality="payload", text="1' or 1=1--", label="sqli", meta={"split": "train"})
    [r] = labelled.explain([rec], labelled.SETS["http_params"], judge=bad, knowledge=None)
    assert ("malicious" in r.answer or "恶意" in r.answer) and "`1' or`" not in r.answer
    assert r.provenance["detector"]["agrees"] is False
    # benign verdicts name the label once ("benign (benign)" / "正常（正常（良性））" were build bugs)
    ok = lambda texts, spec: [{"label": "benign", "score": 0.01, "status": "ok", "evidence": []}]
    for seed in range(6):                                     # the question language is drawn per item
        [b] = labelled.explain([Record(id=f"ds:train:{seed}", modality="payload", text="hello", label="benign",
                                       meta={"split": "train"})], labelled.SETS["http_params"], judge=ok,
                               knowledge=None, seed=seed)
        first = b.answer.splitlines()[0]
        assert first in ("Verdict: benign.", "判定：正常（良性）。"), first


def test_test_split_items_never_become_instructions():
    rec = Record(id="ds:test:0", modality="payload", text="1' or 1=1--", label="sqli", meta={"split": "test"})
    with pytest.raises(ValueError, match="training-split"):
        labelled.explain([rec], labelled.SETS["http_params"], judge=None, knowledge=None)
    kept = labelled.sample_train([rec, Record(id="ds:val:0", modality="payload", text="a", label="benign",
                                               meta={"split": "val"})], labelled.SETS["http_params"], 10)
    assert kept == []


def test_knowledge_qa_is_bilingual_and_cites_the_catalogue():
    recs = knowledge.technique_qa(TECH, version="18.1") + knowledge.weakness_qa(WEAK, version="4.14")
    assert {(r.provenance["question"], r.lang) for r in recs} == {(q, lang) for q in ("what", "detect", "mitigate")
                                                                   for lang in ("en", "zh")}
    from secllm.sft.text import is_chinese

    for r in recs:
        assert r.provenance["entry"] in r.answer and r.provenance["version"] in r.answer
        if r.lang == "zh":
            assert is_chinese(r.question, 0.1)
    zh_mit = next(r for r in recs if r.id == "knowledge:CWE-89:mitigate:zh")
    assert "架构与设计" in zh_mit.answer and "Use prepared statements." in zh_mit.answer


def test_tool_traces_are_valid_openai_messages():
    recs = [r for r in _fixture_records() if r.source == "tools"]
    assert {r.provenance["tool"] for r in recs} == {"detect", "kb_show", "kb_search", "scan"}
    for r in recs:
        roles = [m["role"] for m in r.messages]
        assert roles == ["system", "user", "assistant", "tool", "assistant"]
        call = r.messages[2]["tool_calls"][0]
        assert r.messages[3]["tool_call_id"] == call["id"]
        assert isinstance(json.loads(call["function"]["arguments"]), dict)
        assert call["function"]["name"] in tools.TOOL_NAMES
        assert r.provenance["licence"] and r.provenance["origin"]      # the card's licence column is never empty
    by_tool = {r.provenance["tool"]: r.provenance for r in recs}
    assert by_tool["kb_show"]["licence"] == knowledge.ORIGINS["attack"][1]       # T1190 is ATT&CK
    assert tools.item_origin("http_params:train:7") == ("Morzeux/HttpParamsDataset", "MIT")
    assert by_tool["scan"]["licence"].startswith("mixed")


def test_dedupe_overlap_split_and_card(tmp_path):
    recs = _fixture_records()
    dup = Instruction(id="dup", source="knowledge", group="x", messages=[dict(m) for m in recs[0].messages])
    near = Instruction(id="near", source="knowledge", group="y", messages=[
        {"role": "user", "content": recs[0].question.upper() + "  !!"}, {"role": "assistant", "content": recs[0].answer}])
    _, st = deduplicate(recs + [dup, near])
    assert st == {"exact": 1, "near": 1}
    # an MCQ whose question shares an 8-gram with the T1190 description: every record quoting it goes
    mcq = MCQ(id="seceval:1", question="Which technique is it when adversaries may attempt to exploit a weakness in an "
              "Internet-facing host?", options={"A": "x", "B": "y"}, answer=("A",), source="seceval")
    rep = build_dataset({"all": recs + [dup]}, tmp_path, mcqs=[mcq], fractions=(0.5, 0.25, 0.25))
    dropped = [json.loads(ln)["id"] for ln in (tmp_path / "overlap_dropped.jsonl").read_text().splitlines()]
    assert "knowledge:T1190:what:en" in dropped and "knowledge:T1190:what:zh" in dropped
    assert rep.overlap_dropped == len(dropped) and rep.dedupe["exact"] == 1
    kept = [r for s in ("train", "val", "test") for r in load_split(tmp_path, s)]
    assert len(kept) == rep.counts["total"] and not {r.id for r in kept} & set(dropped)
    by_group: dict = {}
    for r in kept:                              # zh/en and Q&A/traces about one entry share a split
        by_group.setdefault(r.group, set()).add(r.split)
    assert all(len(s) == 1 for s in by_group.values())
    card = (tmp_path / "DATA_CARD.md").read_text()
    assert "overlap" in card.lower() and "CC BY-NC-SA" in card and "MIT" in card
    assert OverlapIndex.from_mcqs([mcq]).hits("nothing in common here at all, really nothing whatsoever") == set()


# ------------------------------------------------------------------------------------------------
# chat template masking
# ------------------------------------------------------------------------------------------------
def test_loss_mask_covers_assistant_turns_only(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    trace = next(r for r in _fixture_records() if r.id.startswith("tools:kb_show"))
    enc = encode(tok, trace.messages)
    assert len(enc.input_ids) == len(enc.labels)
    target = tok.decode([t for t, lab in zip(enc.input_ids, enc.labels) if lab != IGNORE])
    flat = flatten(trace.messages)
    # the two assistant turns (the tool call, the answer), each with its end-of-turn marker — nothing else
    assert target == flat[2]["content"] + "<|im_end|>\n" + flat[4]["content"] + "<|im_end|>\n"
    assert trace.messages[1]["content"] not in target and "<tool_response>" not in target
    # the labels are the ids themselves where they count
    assert all(lab in (IGNORE, t) for t, lab in zip(enc.input_ids, enc.labels))
    full = tok.apply_chat_template(flat, tokenize=False)
    assert tok.decode(enc.input_ids) == full
    cut = encode(tok, trace.messages, max_len=10)
    assert len(cut.input_ids) == 10 and cut.truncated


def test_tool_call_text_round_trip():
    calls, rest = parse_tool_calls('ok <tool_call>{"name": "kb_show", "arguments": {"id": "CWE-89"}}</tool_call>')
    assert calls == [{"name": "kb_show", "arguments": {"id": "CWE-89"}}] and rest == "ok"
    assert parse_tool_calls("<tool_call>{not json}</tool_call>")[0] == []


# ------------------------------------------------------------------------------------------------
# training, resume, adapter save/load
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("sftdata")
    build_dataset({"all": _fixture_records()}, d, mcqs=[], fractions=(0.7, 0.15, 0.15))
    return d


def _cfg(steps):
    from secllm.sft.train import TrainConfig

    return TrainConfig(max_steps=steps, batch_size=2, lr=5e-3, warmup=1, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                       max_len=256, save_every=2, log_every=1, seed=0)


def _adapter(path):
    from safetensors.torch import load_file

    return load_file(str(path / "adapter_model.safetensors"))


def test_train_resume_matches_uninterrupted_run(tiny_model_dir, tiny_data, tmp_path):
    from secllm.sft.train import train

    straight = train(tiny_model_dir, tiny_data, tmp_path / "a", _cfg(4))
    train(tiny_model_dir, tiny_data, tmp_path / "b", _cfg(2))
    state = json.loads((tmp_path / "b" / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 2
    resumed = train(tiny_model_dir, tiny_data, tmp_path / "b", _cfg(4), resume=True)
    assert straight.steps == resumed.steps == 4
    a, b = _adapter(straight.adapter_dir), _adapter(resumed.adapter_dir)
    assert a.keys() == b.keys() and any("lora_B" in k for k in a)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    assert any(float(v.abs().sum()) > 0 for k, v in a.items() if "lora_B" in k)    # it learned something
    files = [p.name for p in (tmp_path / "b").rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle"))]
    log = [json.loads(ln) for ln in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]
    # the standalone held-out loss is the trainer's own figure, and the base model's differs from it
    from secllm.sft.train import validation_loss

    cfg = _cfg(4)
    kw = dict(max_val=cfg.max_val, max_len=cfg.max_len, batch_size=cfg.batch_size)
    tuned = validation_loss(tiny_model_dir, tiny_data, adapter=straight.adapter_dir, **kw)
    assert tuned["loss"] == pytest.approx(straight.val_loss, rel=1e-5) and tuned["tokens"] > 0
    assert validation_loss(tiny_model_dir, tiny_data, **kw)["loss"] != pytest.approx(tuned["loss"], rel=1e-6)


def test_resume_without_checkpoint_is_an_error(tiny_model_dir, tiny_data, tmp_path):
    from secllm.sft.train import train

    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(tiny_model_dir, tiny_data, tmp_path / "none", _cfg(2), resume=True)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tiny_data, tmp_path_factory):
    from secllm.sft.train import train

    return train(tiny_model_dir, tiny_data, tmp_path_factory.mktemp("lora"), _cfg(3))


def test_adapter_save_load_changes_the_model(tiny_model_dir, trained):
    from secllm.sft.evaluate import load

    base, tuned, again = load(tiny_model_dir), load(tiny_model_dir, trained.adapter_dir), load(tiny_model_dir, trained.adapter_dir)
    x = torch.tensor([[5, 6, 7, 8, 9]])
    with torch.no_grad():
        lb, lt, la = (m.model(input_ids=x).logits for m in (base, tuned, again))
    assert not torch.allclose(lb, lt, atol=1e-5)
    assert torch.allclose(lt, la)


# ------------------------------------------------------------------------------------------------
# MCQ scoring
# ------------------------------------------------------------------------------------------------
def test_mcq_scoring_matches_a_direct_computation(tiny_model_dir):
    from secllm.sft.chat import continuation_ids, prompt_ids
    from secllm.sft.evaluate import candidates, eval_mcq, load, mcq_baselines, mcq_messages, score_continuations

    lm = load(tiny_model_dir)
    q = MCQ(id="s:1", question="Which are injections?", options={"A": "SQLi", "B": "XSS", "C": "DoS"},
            answer=("A", "B"), source="seceval")
    cands = candidates(q)
    assert cands == ["A", "B", "C", "AB", "AC", "BC", "ABC"]
    msgs = mcq_messages(q)
    got = score_continuations(lm, msgs, cands)                  # one prompt pass, cached continuations
    p = prompt_ids(lm.tokenizer, msgs)
    for cand, s in zip(cands, got):
        c = continuation_ids(lm.tokenizer, msgs, cand)
        with torch.no_grad():
            logp = torch.log_softmax(lm.model(input_ids=torch.tensor([p + c])).logits[0], -1)
        direct = sum(float(logp[len(p) - 1 + i, t]) for i, t in enumerate(c))
        assert s == pytest.approx(direct, abs=1e-4)
    best = cands[max(range(len(cands)), key=got.__getitem__)]
    single = MCQ(id="c:1", question="Port of HTTPS?", options={"A": "80", "B": "443", "C": "22", "D": "25"},
                 answer=("B",), source="cybermetric")
    res = eval_mcq(lm, [q, single])
    assert res["n"] == 2 and res["rows"][0]["pred"] == best
    assert res["accuracy"] == sum(r["pred"] == r["gold"] for r in res["rows"]) / 2
    assert mcq_baselines([single])["chance"] == pytest.approx(0.25)


def test_verdict_parser_reads_negations():
    from secllm.sft.evaluate import verdict_of

    assert verdict_of("This PowerShell script is not malicious. It measures objects.") == "benign"
    assert verdict_of("It isn't malicious") == "benign" and verdict_of("这段脚本不是恶意的。") == "benign"
    assert verdict_of("Verdict: malicious — SQL injection.") == "malicious" and verdict_of("判定：正常（良性）。") == "benign"
    assert verdict_of("Extracting information about processes") is None


def test_instruction_eval_reports_tool_and_verdict_metrics(tiny_model_dir, tiny_data):
    from secllm.sft.evaluate import eval_instructions, load

    recs = [r for r in _fixture_records() if r.source in ("tools", "labelled")][:3]
    res = eval_instructions(load(tiny_model_dir), recs, max_new_tokens=4)
    assert res["n"] == 3 and 0.0 <= res["rougeL"] <= 1.0
    assert res["tool_json_valid"] in (0.0, 1.0, None) or 0 <= res["tool_json_valid"] <= 1


# ------------------------------------------------------------------------------------------------
# the endpoint
# ------------------------------------------------------------------------------------------------
def test_chat_completions_endpoint(tiny_model_dir, trained, monkeypatch):
    from fastapi.testclient import TestClient

    from secllm.sft.serve import create_app, load

    lm = load(tiny_model_dir, trained.adapter_dir)
    client = TestClient(create_app(lm))
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "What is SQL injection?"}],
                                                  "max_tokens": 5})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["role"] == "assistant"
    assert body["usage"]["completion_tokens"] <= 5
    # tool calling passes through: a <tool_call> block in the output comes back as OpenAI tool_calls
    call = '<tool_call>{"name": "kb_show", "arguments": {"id": "T1190"}}</tool_call>'
    ids = lm.tokenizer(call, add_special_tokens=False)["input_ids"]
    orig = lm.model.generate
    monkeypatch.setattr(lm.model, "generate", lambda input_ids, **kw: torch.cat(
        [input_ids, torch.tensor([ids + [lm.tokenizer.eos_token_id]])], dim=1))
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "What is T1190?"}],
                                                  "tools": tools.TOOL_SPECS})
    ch = r.json()["choices"][0]
    assert ch["finish_reason"] == "tool_calls"
    fn = ch["message"]["tool_calls"][0]["function"]
    assert fn["name"] == "kb_show" and json.loads(fn["arguments"]) == {"id": "T1190"}
    monkeypatch.setattr(lm.model, "generate", orig)
    assert client.post("/v1/chat/completions", json={"messages": [{"role": "robot", "content": "x"}]}).status_code == 400
    assert client.post("/v1/chat/completions", json={"messages": [], "stream": True}).status_code == 400


def test_cli_sft_help_is_fast_and_lists_commands():
    from click.testing import CliRunner

    from secllm.cli import main

    out = CliRunner().invoke(main, ["sft", "--help"])
    assert out.exit_code == 0 and all(c in out.output for c in ("data", "train", "eval", "serve"))
