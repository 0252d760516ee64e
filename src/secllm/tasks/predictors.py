"""The systems a task can serve, as predictors: ``(labels, meta, predict_proba(Examples))``.

One shape for a fine-tuned classifier or a task adapter (:func:`model_predictor`), a lexical head
(:func:`lexical_predictor`), a text head (:func:`text_predictor`) and a head+adapter ensemble
(:func:`ensemble_predictor`), so that :mod:`secllm.tasks.evaluate` reports them side by side and
:mod:`secllm.tasks.head_fit` compares them on validation. ``meta["threshold"]`` is the one the
system serves with; probabilities are in ``labels`` order.

    >>> labels, meta, predict = model_predictor(Path("src/secllm/assets/tasks"), "url")        # doctest: +SKIP
    >>> predict(Examples(["http://paypa1.ru/login"], ["url"], ["phishing"])).shape             # doctest: +SKIP
    (1, 4)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from secllm.tasks.examples import Examples

Predictor = tuple[list[str], dict[str, Any], Callable[[Examples], np.ndarray]]

__all__ = ["Predictor", "model_predictor", "lexical_predictor", "text_predictor", "ensemble_predictor"]


def model_predictor(model_dir: Path, task: str) -> Predictor:
    """(labels, meta, predict_proba(Examples)) for a classifier dir or a multi-task dir's adapter."""
    from secllm.model.modeling import load_classifier, read_meta
    from secllm.tasks.finetune import encode_examples, predict_proba_ids

    meta = read_meta(model_dir)
    if meta.get("kind") == "classifier" and not (model_dir / "adapters" / task).exists():
        model, tok, _, meta = load_classifier(model_dir)
    else:
        from secllm.tasks.multitask import MultiTaskModel

        mt = MultiTaskModel(model_dir)
        model, meta = mt.use(task)
        tok = mt.tok
    model.float().eval()
    ml = int(meta.get("max_length", 128))

    def predict(ex: Examples) -> np.ndarray:
        if not len(ex):
            return np.zeros((0, len(meta["labels"])), dtype=np.float32)
        return predict_proba_ids(model, encode_examples(tok, ex, ml), tok.pad_id)

    return list(meta["labels"]), meta, predict


def lexical_predictor(model_dir: Path, hd: Path) -> Predictor:
    """(labels, meta, predict_proba(Examples)) for a lexical task head (:mod:`secllm.tasks.heads`)."""
    from secllm.model.modeling import load_tokenizer_checked
    from secllm.tasks.finetune import encode_examples
    from secllm.tasks.heads import load_head

    backend, meta = load_head(hd)
    tok = load_tokenizer_checked(model_dir, meta)
    ml = int(meta["max_length"])

    def predict(ex: Examples) -> np.ndarray:
        if not len(ex):
            return np.zeros((0, len(meta["labels"])), dtype=np.float32)
        return backend.predict_proba(encode_examples(tok, ex, ml))

    return list(meta["labels"]), meta, predict


def text_predictor(hd: Path) -> Predictor:
    """(labels, meta, predict_proba(Examples)) for a text head (:mod:`secllm.tasks.heads`)."""
    from secllm.data.corpus import model_text
    from secllm.tasks.heads import load_text_head

    backend, meta = load_text_head(hd, log=lambda m: print(m, file=sys.stderr))
    meta = {**meta, "threshold": meta["text"]["threshold"], "halves": backend.halves}

    def predict(ex: Examples) -> np.ndarray:
        if not len(ex):
            return np.zeros((0, len(meta["labels"])), dtype=np.float32)
        return backend.predict_proba_text([model_text(t, m) for t, m in zip(ex.texts, ex.modalities)])

    return list(meta["labels"]), meta, predict


def ensemble_predictor(head: Predictor, adapter: Predictor) -> Predictor:
    """The served head+adapter ensemble: mean of both probabilities (head label order), its own threshold."""
    hlabels, hmeta, hpredict = head
    alabels, _, apredict = adapter
    order = [alabels.index(lab) for lab in hlabels]

    def predict(ex: Examples) -> np.ndarray:
        return (hpredict(ex) + apredict(ex)[:, order]) / 2

    return hlabels, {**hmeta, "threshold": hmeta["ensemble"]["threshold"]}, predict
