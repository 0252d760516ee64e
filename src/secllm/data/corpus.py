"""The unlabeled pretraining corpus: training splits of every source, prepared per modality.

Rules (EVALUATION.md, "data snooping"): only rows whose split is ``train`` enter the corpus, so
neither the tokenizer nor the base model ever sees a validation or test row. Text is
desensitised (IPs, MACs, e-mails, secrets masked) before it is written. Labels are dropped.

Output: ``corpus.jsonl`` (one ``{"m": modality, "t": text}`` per line) and ``manifest.json``
(counts per source and modality, the split rule, a hash of the rows).

    >>> from pathlib import Path
    >>> prepare_text(Record(id="x", modality="payload", text="%27%20OR%201=1"))
    ["' or 1=1"]
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from secllm.data.canonical import canonicalize
from secllm.data.desensitize import MODEL_INPUT_KINDS, desensitize
from secllm.data.records import Record

WEB_MODALITIES = ("payload", "url", "http")
CHUNK_CHARS = 600          # ~128-200 tokens: what a CPU-sized model sees in one sequence
MAX_CHUNKS_PER_DOC = 8     # keeps long scripts from drowning the short web rows
MAX_FLOW_BYTES = 256       # first bytes of a session carry the handshake/header structure


_SURROGATES = re.compile("[\ud800-\udfff]")


def scrub_surrogates(text: str) -> str:
    """Replace lone surrogates (e.g. from ``%uD83D``) by U+FFFD, one char for one char (offsets
    stay valid): the tokenizer and UTF-8 files only take valid Unicode.

        >>> scrub_surrogates("a\\ud800b") == "a\\ufffdb"
        True
    """
    try:
        text.encode("utf-8")            # the common case, ~20x faster than scanning in Python
        return text
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)


def model_text(text: str, modality: str) -> str:
    """The exact string the model reads for an input of this modality.

    Web input is canonicalised (decoding layers + lower-case) so that ``%27``, ``&#39;`` and
    ``'`` look the same to the model; other modalities are read as they are.
    """
    if modality in WEB_MODALITIES:
        text = canonicalize(text).text
    return scrub_surrogates(text)


def prepare_text(rec: Record) -> list[str]:
    """Corpus strings for one record: desensitised, canonicalised (web), chunked (long docs)."""
    if rec.error or (not rec.text and rec.data is None):
        return []
    if rec.modality in ("flow", "pcap"):
        data = rec.data if rec.data is not None else bytes.fromhex(rec.text.replace(" ", ""))
        return [data[:MAX_FLOW_BYTES].hex(" ")] if data else []
    # the same masking as the task models' input (secllm.tasks.registry.prepare_text): pretraining and
    # fine-tuning must see one distribution; the corpus is built from public datasets only
    text = desensitize(model_text(rec.text, rec.modality), MODEL_INPUT_KINDS)
    if len(text) <= CHUNK_CHARS:
        return [text]
    chunks = []
    for start in range(0, len(text), CHUNK_CHARS):
        chunk = text[start:start + CHUNK_CHARS]
        if chunk.strip():
            chunks.append(chunk)
        if len(chunks) >= MAX_CHUNKS_PER_DOC:
            break
    return chunks


def iter_corpus(sources: Iterable[tuple[str, list[Record]]], split: str = "train") -> Iterator[tuple[str, str, str]]:
    """Yield ``(source, modality, text)`` for every corpus string of the given split."""
    for name, recs in sources:
        for rec in recs:
            if rec.meta.get("split") != split:
                continue
            for t in prepare_text(rec):
                yield name, rec.modality, t


def build_corpus(sources: Iterable[tuple[str, list[Record]]], out_dir: str | Path,
                 split: str = "train") -> dict:
    """Write ``corpus.jsonl`` + ``manifest.json`` into ``out_dir``; return the manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: Counter = Counter()
    by_mod: Counter = Counter()
    h = hashlib.sha256()
    seen: set[str] = set()
    n = 0
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for name, mod, text in iter_corpus(sources, split):
            key = hashlib.sha1(f"{mod}\0{text}".encode("utf-8", "surrogatepass")).hexdigest()
            if key in seen:           # exact duplicates add nothing but weight
                continue
            seen.add(key)
            f.write(json.dumps({"m": mod, "t": text}, ensure_ascii=False) + "\n")
            h.update(key.encode())
            counts[name] += 1
            by_mod[mod] += 1
            n += 1
    manifest = {
        "rows": n,
        "split": split,
        "rule": "training split of each source (see secllm.data.sources); desensitised; web text canonicalised; "
                f"long documents chunked to {CHUNK_CHARS} chars (max {MAX_CHUNKS_PER_DOC} chunks); "
                f"flows cut to {MAX_FLOW_BYTES} bytes; exact duplicates dropped",
        "by_source": dict(counts),
        "by_modality": dict(by_mod),
        "sha256": h.hexdigest(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def read_corpus(path: str | Path) -> Iterator[tuple[str, str]]:
    """Yield ``(modality, text)`` from a ``corpus.jsonl`` (or a directory holding one)."""
    p = Path(path)
    if p.is_dir():
        p = p / "corpus.jsonl"
    with open(p, encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            yield d["m"], d["t"]
