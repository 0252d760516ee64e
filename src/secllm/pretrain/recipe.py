"""The end-to-end pretraining recipe: datasets → corpus → tokenizer → masked-LM base.

    >>> manifest = build_corpus_from_datasets(datasets_dir(), "runs/corpus")      # doctest: +SKIP
    >>> base = run_pretrain("runs/corpus", "runs/base", size="cpu-small")          # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from secllm.data.corpus import build_corpus, read_corpus
from secllm.data.sources import load_sources
from secllm.pretrain.trainer import PretrainConfig, pretrain
from secllm.tokenizer import SecTokenizer, train_tokenizer


VAL_ROWS_PER_MODALITY = 1000


def build_corpus_from_datasets(datasets: str | Path, out_dir: str | Path, sources: list[str] | None = None) -> dict:
    """Write ``train/`` and ``val/`` corpora (training and validation splits only)."""
    out = Path(out_dir)
    loaded = list(load_sources(Path(datasets), sources))
    if not loaded:
        raise FileNotFoundError(f"no known dataset found under {datasets}")
    train = build_corpus(loaded, out / "train", split="train")
    val = build_corpus(loaded, out / "val", split="val")
    manifest = {"train": train, "val": val, "sources": [n for n, _ in loaded]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def balanced_rows(rows: list[tuple[str, str]], max_per_modality: int | None, seed: int = 0) -> list[tuple[str, str]]:
    """Cap each modality's share so the big ones (URLs) do not drown the small ones."""
    if not max_per_modality:
        return rows
    by: dict[str, list[tuple[str, str]]] = {}
    for r in rows:
        by.setdefault(r[0], []).append(r)
    rng = random.Random(seed)
    out = []
    for m in sorted(by):
        rs = by[m]
        if len(rs) > max_per_modality:
            rs = rng.sample(rs, max_per_modality)
        out.extend(rs)
    return out


def run_pretrain(corpus_dir: str | Path, out_dir: str | Path, *, size: str = "cpu-small",
                 vocab_size: int | None = None, tokenizer_dir: str | Path | None = None,
                 cfg: PretrainConfig | None = None, max_per_modality: int | None = 60_000,
                 resume: bool = False, progress: bool = True, init_dir: str | Path | None = None) -> Path:
    """Train the tokenizer on the training corpus (unless given), then pretrain; returns model dir.

    ``init_dir``: continue an existing base (its tokenizer and architecture) instead.
    """
    from secllm.model.config import load_config

    cfg = cfg or PretrainConfig(size=size)
    corpus = Path(corpus_dir)
    train_rows = balanced_rows(list(read_corpus(corpus / "train")), max_per_modality, cfg.seed)
    val_path = corpus / "val" / "corpus.jsonl"
    # validation: up to 1,000 rows of every modality (the corpus is written source by source, so
    # its first rows are one or two modalities only)
    val_rows = balanced_rows(list(read_corpus(val_path)), VAL_ROWS_PER_MODALITY, 0) if val_path.exists() else None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if init_dir:
        if tokenizer_dir:
            raise ValueError("continuing a base keeps its tokenizer; give init_dir or tokenizer_dir, not both")
        tok = SecTokenizer.load(init_dir)
    elif tokenizer_dir:
        tok = SecTokenizer.load(tokenizer_dir)
    elif resume and (out / "tokenizer" / "tokenizer.json").exists():
        tok = SecTokenizer.load(out / "tokenizer")
    else:
        vs = vocab_size or load_config(cfg.size).vocab_size
        tok = train_tokenizer((t for _, t in train_rows), vocab_size=vs)
        tok.save(out / "tokenizer")
    return pretrain(train_rows, tok, cfg, out, val_corpus=val_rows, resume=resume, progress=progress,
                    init_dir=init_dir)
