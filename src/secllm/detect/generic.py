"""A detector for any registered task: URLs, scripts, traffic flows, log lines, CTI, events.

The same contract as :class:`secllm.detect.detector.WebAttackDetector` (same ``Detection``
results, same per-item statuses, same backends) for the tasks of :mod:`secllm.tasks.registry`:
raw input → the task's preparation (``TaskSpec.prep``, the pretraining corpus' form) →
``model_text`` → class probabilities → verdict and evidence (gradient × input token attribution).

Verdicts: for a task with a benign class (url, script, log-hdfs, log-bgl) ``label`` is
``benign``/``malicious`` (score = 1 - P(benign) against the model's validation threshold) and
``attack_type`` the most likely non-benign class, as for web attacks. For a task without one
(traffic, cti-attack, evtx-tactic) ``label`` is the most likely class and ``score`` its probability;
its evidence explains the top class against the runner-up.

Evidence spans index the original input when preparation kept the text as it was (``part``
``input``), byte offsets of the payload for flows (``part`` ``bytes``), else the prepared text
(``part`` ``model_text``, e.g. after masking an address).

    >>> det = TaskDetector.load("runs/multitask", task="url")           # doctest: +SKIP
    >>> det.detect(["http://paypal.com.secure-login.example.ru/x"])[0].attack_type   # doctest: +SKIP
    'phishing'
    >>> [r.label for r in det.detect_pcap("capture.pcap")]              # doctest: +SKIP
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from secllm.data.canonical import canonicalize, span_to_original
from secllm.data.corpus import model_text
from secllm.detect.detector import Detection, Evidence, Status
from secllm.detect.ood import is_alert

__all__ = ["TaskDetector", "pcap_flow_items"]


class TaskDetector:
    """Judge inputs of one registered task with a fine-tuned head or a task adapter."""

    def __init__(self, spec, backend, tokenizer, meta: dict[str, Any], model_dir: Path, shared=None):
        self.spec = spec
        self.backend = backend
        self.tok = tokenizer
        self.meta = meta
        self.model_dir = model_dir
        self.shared = shared                          # the MultiTaskModel, when adapters are used
        # detectors of one shared base switch its active task: one model call at a time across them
        self._lock = shared.lock if shared is not None else threading.RLock()
        self.labels: list[str] = list(meta["labels"])
        benign = meta.get("benign_label", spec.benign_label)
        self.benign_idx: int | None = self.labels.index(benign) if benign in self.labels else None
        self.threshold: float = float(meta.get("threshold", 0.5))
        self.max_length: int = int(meta.get("max_length", 128))
        self.gate = None                              # secllm.detect.ood.OodGate: "benign"/"unknown" on ordinary data

    # -------------------------------------------------------------------------------------
    @classmethod
    def load(cls, model_dir: str | Path, task: str | None = None, threads: int | None = None,
             backend: str = "torch", shared=None, head: str = "auto", ood: bool = True) -> "TaskDetector":
        """Load ``task`` from a classifier directory or from ``model_dir/adapters/<task>``.

        ``ood``: load the task's open-world gate (``lexical/<task>/ood.json``, :mod:`secllm.detect.ood`)
        when there is one, so that ordinary inputs get ``benign``/``unknown`` instead of a class.
        """
        det = cls._load(model_dir, task, threads, backend, shared, head)
        if ood:
            from secllm.detect.ood import load_gate
            from secllm.tasks.heads import head_dir

            det.gate = load_gate(head_dir(model_dir, det.spec.name))
        return det

    @classmethod
    def _load(cls, model_dir: str | Path, task: str | None, threads: int | None, backend: str, shared,
              head: str) -> "TaskDetector":
        """The task's served model (see :meth:`load`), without the gate.

        ``shared`` (a :class:`secllm.tasks.multitask.MultiTaskModel`) reuses an already loaded base:
        that is how one process serves several tasks with one base. ``head``: ``auto`` serves the
        task's lexical head (``model_dir/lexical/<task>``, :mod:`secllm.tasks.heads`) when
        validation chose it over the adapter, ``lexical`` forces it, ``adapter`` never uses it.
        A lexical head needs neither torch nor ONNX Runtime (numpy only).
        """
        from secllm.model.modeling import read_meta
        from secllm.tasks.heads import head_dir, load_head, serve_mode, served_head
        from secllm.tasks.registry import get_task

        if head not in ("auto", "lexical", "text", "adapter"):
            raise ValueError(f"head must be auto, lexical, text or adapter, not {head!r}")
        d = Path(model_dir)
        meta = read_meta(d)
        task = task or meta.get("task")
        if not task:
            raise ValueError(f"{d} does not say which task it serves; pass task=")
        spec = get_task(task)
        if head == "text" or (head == "auto" and serve_mode(d, task) == "text"):
            import sys

            from secllm.model.modeling import load_tokenizer_checked
            from secllm.tasks.heads import load_text_head

            tb, hmeta = load_text_head(head_dir(d, task), threads=threads,
                                       log=lambda m: print(m, file=sys.stderr))
            tok = load_tokenizer_checked(d, hmeta)           # offsets for evidence only
            return cls(spec, tb, tok, {**hmeta, "threshold": hmeta["text"]["threshold"]}, d)
        hd = served_head(d, task) if head == "auto" else head_dir(d, task) if head == "lexical" else None
        if hd is not None:
            from secllm.model.modeling import load_tokenizer_checked
            from secllm.tasks.heads import EnsembleBackend

            lex, hmeta = load_head(hd)
            tok = load_tokenizer_checked(d, hmeta)
            if tok.vocab_size != lex.vocab_size:
                raise ValueError(f"{hd} was fitted on a {lex.vocab_size}-token vocabulary, {d} has {tok.vocab_size}")
            if head == "auto" and hmeta.get("serve") == "ensemble" and hmeta.get("ensemble"):
                try:
                    inner = cls._load(d, task, threads, backend, shared, "adapter")
                except (ImportError, ValueError) as exc:      # e.g. a [serve]-only install without torch
                    import sys

                    print(f"secllm: {task}: the adapter half of the ensemble cannot load ({exc}); "
                          "serving the lexical head alone", file=sys.stderr)
                    return cls(spec, lex, tok, hmeta, d)
                if sorted(inner.labels) != sorted(hmeta["labels"]):
                    raise ValueError(f"{task}: the adapter's labels differ from the lexical head's; refit the head")
                order = [inner.labels.index(lab) for lab in hmeta["labels"]]
                ens = EnsembleBackend(lex, inner.backend, hmeta["ensemble"]["adapter_max_length"],
                                      None if order == list(range(len(order))) else order)
                emeta = {**hmeta, "threshold": hmeta["ensemble"]["threshold"]}
                return cls(spec, ens, tok, emeta, d, shared=inner.shared)
            return cls(spec, lex, tok, hmeta, d)
        if threads and backend == "torch":
            import torch

            torch.set_num_threads(threads)
        if shared is None and meta.get("kind") == "classifier" and meta.get("task") == task \
                and not (d / "adapters" / task).exists():
            if backend == "torch":
                from secllm.detect.backends import TorchBackend
                from secllm.model.modeling import load_classifier

                model, tok, _, meta = load_classifier(d)
                model.float().eval()
                return cls(spec, TorchBackend(model, tok.pad_id), tok, meta, d)
            from secllm.detect import backends
            from secllm.model.modeling import load_tokenizer_checked

            factory = backends.BACKENDS.get(backend)
            if factory is None:
                raise ValueError(f"unknown backend {backend!r}")
            tok = load_tokenizer_checked(d, meta)
            return cls(spec, factory(d, tok, threads=threads), tok, meta, d)
        if backend != "torch":
            raise ValueError("task adapters run on the torch backend only")
        from secllm.detect.backends import TorchBackend
        from secllm.tasks.multitask import MultiTaskModel

        if shared is None:
            if meta.get("kind") not in ("mlm", "classifier"):
                raise ValueError(f"{d} holds a {meta.get('kind')} model, not a base or a detector")
            shared = MultiTaskModel(d)
        model, tmeta = shared.use(task)
        return cls(spec, TorchBackend(model, shared.tok.pad_id), shared.tok, tmeta, d, shared=shared)

    def _activate(self) -> None:
        """Make sure the shared base has this detector's task active (another one may have switched)."""
        if self.shared is not None and self.shared.active != self.spec.name:
            self.shared.use(self.spec.name)

    # -------------------------------------------------------------------------------------
    def _prepare(self, item: Any, res: Detection) -> str | None:
        if not isinstance(item, str):
            res.status, res.error = Status.BAD_INPUT, f"expected text, got {type(item).__name__}"
            return None
        if len(item) > self.spec.max_item_chars:
            res.status, res.error = Status.TOO_LARGE, f"{len(item)} chars > limit {self.spec.max_item_chars}"
            if self.benign_idx is not None:          # a threat detector fails closed: never "benign" unread
                res.label, res.attack_type, res.score = "malicious", "too_complex", 1.0
                res.attack_types = ["too_complex"]
                res.warnings.append(f"over budget: {res.error}")
            return None
        if not item.strip():
            res.status, res.error = Status.EMPTY, "empty input"
            return None
        try:
            prepared = self.spec.prep(item)
        except ValueError as exc:                 # e.g. "not hex", "not HDFS event keys"
            res.status, res.error = Status.BAD_INPUT, str(exc)
            return None
        text = model_text(prepared, self.spec.modality)
        if not text.strip():
            res.status, res.error = Status.EMPTY, "nothing left to judge after preparation"
            return None
        return text

    def encode(self, items: list[Any], ids: list[str] | None = None):
        """``(results, texts, where, enc)``: per-item statuses, the model texts of the judgeable items,
        their positions in ``items`` and their token encoding — what :meth:`detect` judges."""
        ids = ids or [str(i) for i in range(len(items))]
        results = [Detection(id=i, kind=self.spec.modality) for i in ids]
        texts: list[str] = []
        where: list[int] = []
        for k, (item, res) in enumerate(zip(items, results)):
            try:
                t = self._prepare(item, res)
            except Exception as exc:  # noqa: BLE001 — one bad item must not kill the batch
                res.status, res.error, t = Status.INTERNAL, f"{type(exc).__name__}: {exc}", None
            if t is not None:
                texts.append(t)
                where.append(k)
        enc = self.tok.encode_batch(texts, [self.spec.modality] * len(texts), max_length=self.max_length,
                                    pad=False) if texts else None
        return results, texts, where, enc

    def detect(self, items: list[Any], ids: list[str] | None = None, evidence: bool = True,
               max_evidence: int = 5) -> list[Detection]:
        """Judge a batch of raw inputs; a bad item gets an error status, the rest go on."""
        results, texts, where, enc = self.encode(items, ids)
        if not texts:
            return results
        with self._lock:
            self._activate()
            if getattr(self.backend, "reads_text", False):         # a text head reads the text itself
                proba = self.backend.predict_proba_text(texts)
            else:
                proba = self.backend.predict_proba(enc.input_ids)
            gate = self.gate.score(enc.input_ids) if self.gate is not None else None
            self._judge(items, results, texts, where, enc, proba, evidence, max_evidence, gate)
        return results

    def _judge(self, items, results, texts, where, enc, proba, evidence: bool, max_evidence: int,
               gate: np.ndarray | None = None) -> None:
        name = getattr(self.backend, "name", None)
        stage = name if name in ("lexical", "ensemble", "text") else "adapter" if self.shared is not None else "model"
        for n, k in enumerate(where):
            res, p = results[k], proba[n]
            res.stage = stage                 # what judged: the task's lexical head, adapter, or model
            res.class_scores = {lab: float(p[i]) for i, lab in enumerate(self.labels)}
            order = np.argsort(-p)
            if self.benign_idx is not None:
                mal = 1.0 - float(p[self.benign_idx])
                res.score = mal
                res.label = "malicious" if mal >= self.threshold else "benign"
                others = [int(i) for i in order if int(i) != self.benign_idx]
                target, ref = (others[0] if others else int(order[0])), self.benign_idx
                res.attack_type = self.labels[target] if res.label == "malicious" else None
                explain = res.label == "malicious"
            else:
                target = int(order[0])
                ref = int(order[1]) if len(order) > 1 else target
                res.label, res.score = self.labels[target], float(p[target])
                explain = target != ref
            if gate is not None and is_alert(self.spec, res.label):   # the gate only ever withdraws an alert
                g = float(gate[n])
                res.details["ood"] = {"ordinary_score": round(g, 6), "threshold": round(self.gate.threshold, 6),
                                      "gated": g >= self.gate.threshold}
                if g >= self.gate.threshold:          # looks like ordinary data, not like what the task learned
                    res.details["ood"]["model_label"] = res.attack_type or res.label
                    res.details["ood"]["reason"] = (f"resembles ordinary {self.spec.modality} data more than the "
                                                    f"task's training data (P(ordinary) {g:.3f} >= "
                                                    f"{self.gate.threshold:.3f}); the class was not reported")
                    res.label, res.attack_type, res.attack_types = self.gate.outcome, None, []
                    if self.benign_idx is None:
                        res.score = g                 # the score of the reported outcome
                    explain = False
            if evidence and explain:
                try:
                    res.evidence = self._evidence(items[k], texts[n], enc.input_ids[n], enc.offsets[n],
                                                  target, ref, max_evidence)
                except Exception as exc:  # noqa: BLE001
                    res.warnings.append(f"evidence failed: {type(exc).__name__}")

    def detect_pcap(self, path: str | Path, evidence: bool = True) -> list[Detection]:
        """One result per bidirectional flow of a capture (L7 payload, as USTC-TFC's SessionL7).

        Flows without payload get ``empty``; a truncated or corrupt capture gives the flows read so
        far plus one ``bad_input`` result; a missing file raises ``FileNotFoundError``.
        """
        items, ids, errors, out_order = pcap_flow_items(path)
        judged = iter(self.detect(items, ids=ids, evidence=evidence))
        return [errors[n] if n in errors else next(judged) for n in out_order]

    # -------------------------------------------------------------------------------------
    def _evidence(self, item: str, text: str, ids: list[int], offsets, target: int, ref: int,
                  max_evidence: int) -> list[Evidence]:
        if getattr(self.backend, "reads_text", False):
            attr = self.backend.text_attribution(text, offsets, target, ref)
        else:
            attr = self.backend.token_attribution(ids, target, ref)
        spans = sorted((s, e, float(a)) for (s, e), a in zip(offsets, attr) if e > s and a > 0)
        total = sum(a for _, _, a in spans) or 1.0
        merged: list[list[float]] = []
        for s, e, a in spans:
            if merged and s <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], e)
                merged[-1][2] += a / total
            else:
                merged.append([s, e, a / total])
        merged.sort(key=lambda m: -m[2])
        out = []
        canon = None
        if self.spec.modality in ("url", "payload", "http") and text != item:
            canon = canonicalize(item)
            if canon.text != text:          # masking changed it too: offsets do not map back
                canon = None
        for s, e, w in merged[:max_evidence]:
            s, e = int(s), int(e)
            if self.spec.modality == "flow":
                a, b = s // 3, (e + 2) // 3           # "45 00 ab": byte i sits at chars 3i..3i+2
                out.append(Evidence("bytes", a, b, text[3 * a: 3 * b - 1], round(w, 4)))
            elif text == item:
                out.append(Evidence("input", s, e, item[s:e], round(w, 4)))
            elif canon is not None:
                a, b = span_to_original(canon, s, e)
                out.append(Evidence("input", a, b, item[a:b], round(w, 4)))
            else:
                out.append(Evidence("model_text", s, e, text[s:e], round(w, 4)))
        return out


def pcap_flow_items(path: str | Path) -> tuple[list[str], list[str], dict[int, Detection], list[int]]:
    """A capture's flows as traffic-task items: ``(hex items, ids, {position: error result}, order)``."""
    from secllm.data.corpus import MAX_FLOW_BYTES
    from secllm.data.readers import read_pcap

    if not Path(path).exists():
        raise FileNotFoundError(path)
    items, ids, out_order = [], [], []
    errors: dict[int, Detection] = {}
    for n, rec in enumerate(read_pcap(path, mode="flows", max_bytes=MAX_FLOW_BYTES)):
        if rec.error:
            errors[n] = Detection(id=rec.id, kind="flow", status=Status.BAD_INPUT, error=rec.error)
        elif not rec.data:
            errors[n] = Detection(id=rec.id, kind="flow", status=Status.EMPTY, error="flow carries no payload")
        else:
            items.append(rec.data[:MAX_FLOW_BYTES].hex(" "))
            ids.append(rec.id)
        out_order.append(n)
    return items, ids, errors, out_order
