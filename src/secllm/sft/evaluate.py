"""Score a causal LM (optionally with a LoRA adapter) on the MCQ sets and the instruction test split.

MCQ, by option log-likelihood (``method="loglik"``): the question and its options are one user
turn; every candidate answer is scored as a whole assistant turn (its text plus the template's
end-of-turn marker) by the sum of its token log-probabilities, and the best candidate wins.
CyberMetric's candidates are the four letters; SecEval's (multi-answer, exact set) are every
non-empty set of option letters written in order ("A", "AC", "ABD"...) — the end-of-turn marker is
what lets a set compete with its own prefix. ``method="generate"``: greedy decoding, the letters
of the first line of the answer.

Instruction test split (``test.jsonl``), by greedy generation:
- every record: ROUGE-L F1 of the final answer against the reference (``rouge-score``; Latin words
  and single CJK characters as tokens);
- ``labelled`` records: verdict accuracy (malicious / benign, from the first line, en or zh);
- ``tools`` records: the first assistant turn must be a tool call — JSON validity, right tool,
  exact arguments; the final answer is then generated with the real tool result in context.

    >>> letters_in("Answer: A, C")
    ('A', 'C')
    >>> verdict_of("判定：恶意——SQL 注入。"), verdict_of("Verdict: benign (no attack found).")
    ('malicious', 'benign')
    >>> verdict_of("This PowerShell script is not malicious."), verdict_of("这段脚本不是恶意的。")
    ('benign', 'benign')
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secllm.sft.chat import continuation_ids, parse_tool_calls, prompt_ids, render
from secllm.sft.mcq import MCQ
from secllm.sft.records import Instruction
from secllm.sft.text import words

PROMPT_SINGLE = "Answer with the letter of the correct option only."
PROMPT_MULTI = "One or more options are correct. Answer with the letters of all correct options only (e.g. AC)."


def mcq_messages(q: MCQ) -> list[dict[str, str]]:
    opts = "\n".join(f"{k}. {v}" for k, v in sorted(q.options.items()))
    return [{"role": "user", "content": f"{q.question}\n{opts}\n{PROMPT_MULTI if q.multi else PROMPT_SINGLE}"}]


def candidates(q: MCQ) -> list[str]:
    letters = sorted(q.options)
    if not q.multi:
        return letters
    return ["".join(c) for n in range(1, len(letters) + 1) for c in itertools.combinations(letters, n)]


def letters_in(text: str) -> tuple[str, ...]:
    """The option letters a generated answer names (its first line; "A, C", "AC", "(B)")."""
    line = (text.strip().splitlines() or [""])[0]
    line = re.sub(r"^\s*(answer|the answer is|答案)\s*[:：是]?\s*", "", line, flags=re.I)
    runs = re.findall(r"(?<![A-Za-z])([A-F](?:\s*[,，、&和and]*\s*[A-F])*)(?![A-Za-z])", line)
    if not runs:
        return ()
    return tuple(sorted(set(re.findall(r"[A-F]", runs[0]))))


def verdict_of(text: str) -> str | None:
    """malicious / benign from an answer's first line (English or Chinese), else None."""
    line = (text.strip().splitlines() or [""])[0].lower()
    if re.search(r"\b(not|isn't|is not|non-?)\s*malicious|不是恶意|非恶意|无恶意|没有恶意|不属于恶意", line):
        return "benign"                     # "not malicious" names the word but means the opposite
    if "malicious" in line or "恶意" in line:
        return "malicious"
    if "benign" in line or "正常" in line:
        return "benign"
    if line.startswith(("technique:", "技术：")):
        return "technique"
    return None


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    name: str


def load(model_dir: str | Path, adapter: str | Path | None = None) -> LoadedModel:
    """A model for scoring and generation (eval mode), with its LoRA adapter applied when given."""
    from secllm.sft.train import load_base

    model, tok = load_base(model_dir)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    import torch

    if torch.cuda.is_available():
        model.to("cuda")
    return LoadedModel(model, tok, f"{Path(model_dir).name}" + (f"+{Path(adapter).parent.name}" if adapter else ""))


def score_continuations(lm: LoadedModel, messages, answers: Sequence[str]) -> list[float]:
    """Sum of token log-probabilities of each answer (a whole assistant turn) after ``messages``.

    The prompt is run once; each answer continues from a copy of its key/value cache (answers are a
    few tokens, prompts hundreds: this is what makes option scoring affordable on a CPU)."""
    import copy

    import torch

    p = prompt_ids(lm.tokenizer, messages)
    dev = next(lm.model.parameters()).device
    with torch.no_grad():
        first = lm.model(input_ids=torch.tensor([p], device=dev), use_cache=True)
        last = torch.log_softmax(first.logits[0, -1].float(), -1)                  # (v,)
        out = []
        for a in answers:
            c = continuation_ids(lm.tokenizer, messages, a)
            total = float(last[c[0]])
            if len(c) > 1:
                nxt = lm.model(input_ids=torch.tensor([c[:-1]], device=dev),
                               past_key_values=copy.deepcopy(first.past_key_values), use_cache=True)
                logp = torch.log_softmax(nxt.logits[0].float(), -1)               # (len(c)-1, v)
                total += float(logp[torch.arange(len(c) - 1, device=dev), torch.tensor(c[1:], device=dev)].sum())
            out.append(total)
    return out


def generate(lm: LoadedModel, messages, max_new_tokens: int = 128) -> str:
    """Greedy continuation of ``messages`` (the next assistant turn's text)."""
    import torch

    p = prompt_ids(lm.tokenizer, messages)
    dev = next(lm.model.parameters()).device
    ids = torch.tensor([p], device=dev)
    with torch.no_grad():
        out = lm.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)
    return lm.tokenizer.decode(out[0, len(p):], skip_special_tokens=True)


def eval_mcq(lm: LoadedModel, questions: Sequence[MCQ], method: str = "loglik", *, max_new_tokens: int = 8,
             progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Accuracy (single answer) / exact-set accuracy (multi) with per-question rows."""
    rows, t0 = [], time.time()
    for i, q in enumerate(questions):
        msgs = mcq_messages(q)
        if method == "loglik":
            cands = candidates(q)
            scores = score_continuations(lm, msgs, cands)
            pred = tuple(cands[max(range(len(cands)), key=scores.__getitem__)])
        else:
            pred = letters_in(generate(lm, msgs, max_new_tokens))
        rows.append({"id": q.id, "pred": "".join(pred), "gold": "".join(q.answer), "ok": tuple(pred) == q.answer})
        if progress:
            progress(i + 1)
    n = len(rows)
    return {"n": n, "accuracy": sum(r["ok"] for r in rows) / n if n else None, "method": method,
            "seconds": round(time.time() - t0, 1), "rows": rows}


def mcq_baselines(questions: Sequence[MCQ]) -> dict[str, float]:
    """Chance (expected accuracy of a uniform random candidate) and the most frequent answer's share."""
    from collections import Counter

    if not questions:
        return {}
    chance = sum(1 / len(candidates(q)) for q in questions) / len(questions)
    top = Counter("".join(q.answer) for q in questions).most_common(1)[0]
    return {"chance": chance, "majority": top[1] / len(questions), "majority_answer": top[0]}


class _CjkTokenizer:
    def tokenize(self, text: str) -> list[str]:
        return words(text)


def _rouge():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], tokenizer=_CjkTokenizer())


def eval_instructions(lm: LoadedModel, records: Sequence[Instruction], *, max_new_tokens: int = 128,
                      progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Generation metrics on instruction records (see the module doc)."""
    scorer = _rouge()
    rows, t0 = [], time.time()
    for i, r in enumerate(records):
        row: dict[str, Any] = {"id": r.id, "source": r.source, "lang": r.lang}
        msgs = r.messages
        last = max(k for k, m in enumerate(msgs) if m["role"] == "assistant")
        if r.source == "tools":
            first = next(k for k, m in enumerate(msgs) if m["role"] == "assistant")
            gen = generate(lm, msgs[:first], max_new_tokens)
            calls, _ = parse_tool_calls(gen)
            want = r.tool_calls[0]
            row.update(tool_json_valid=bool(calls), tool_right=bool(calls) and calls[0]["name"] == want["name"],
                       tool_args_exact=bool(calls) and calls[0] == want)
        gen = generate(lm, msgs[:last], max_new_tokens)
        ref = msgs[last]["content"]
        row["rougeL"] = scorer.score(ref, gen)["rougeL"].fmeasure
        if r.source == "labelled":
            row["verdict_ok"] = verdict_of(gen) == verdict_of(ref)
        row["output"] = gen[:300]
        rows.append(row)
        if progress:
            progress(i + 1)

    def mean(key, src=None):
        v = [x[key] for x in rows if key in x and (src is None or x["source"] == src)]
        return round(sum(v) / len(v), 4) if v else None

    summary = {"n": len(rows), "rougeL": mean("rougeL"), "verdict_accuracy": mean("verdict_ok"),
               "tool_json_valid": mean("tool_json_valid"), "tool_right": mean("tool_right"),
               "tool_args_exact": mean("tool_args_exact"), "seconds": round(time.time() - t0, 1),
               "by_source": {s: {"n": sum(1 for x in rows if x["source"] == s), "rougeL": mean("rougeL", s)}
                             for s in sorted({x["source"] for x in rows})}}
    return {**summary, "rows": rows}


def sample(items: Sequence, n: int | None, seed: int = 0) -> list:
    """A seeded sample of ``n`` items (all when ``n`` is None or larger), kept in their original order."""
    import random

    if n is None or n >= len(items):
        return list(items)
    keep = set(random.Random(seed).sample(range(len(items)), n))
    return [x for i, x in enumerate(items) if i in keep]


def write_report(result: dict[str, Any], out: str | Path) -> None:
    """``out`` as JSON (rows included)."""
    Path(out).write_text(json.dumps(result, indent=1, ensure_ascii=False), encoding="utf-8")


__all__ = ["load", "eval_mcq", "eval_instructions", "mcq_baselines", "score_continuations", "generate",
           "mcq_messages", "candidates", "letters_in", "verdict_of", "sample", "render"]
