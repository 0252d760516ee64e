"""The task registry: every downstream task the base serves, described as data.

A :class:`TaskSpec` says what a task reads (modality), what it predicts (labels, which one is
benign), how its data is loaded and split (``loader`` applies the split rule of
``shared/datasets/README.md``; ``split_rule`` says it in words for the report), which shallow
baselines it is compared with, and how one raw input becomes the string the model reads
(``prepare``: the same desensitising/canonicalising preparation as the pretraining corpus, so
pretraining, fine-tuning and detection all see one form).

    >>> get_task("url").labels
    ('benign', 'phishing', 'malware', 'spam')
    >>> "log-hdfs" in list_tasks()
    True
    >>> get_task("log-hdfs").prepare("5 5 22")
    'e5 e5 e22'

Loaders return ``{"train", "val", "test", "test:<name>"...}`` → :class:`Examples` whose texts are
already prepared (``prepare`` applied). Keys starting with ``_`` carry bookkeeping (dropped
overlaps, source counts) and are split off by :meth:`TaskSpec.load`.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secllm.data.corpus import MAX_FLOW_BYTES, model_text
from secllm.data.desensitize import MODEL_INPUT_KINDS, desensitize
from secllm.data.records import Record
from secllm.tasks.examples import Examples

__all__ = ["TaskSpec", "TaskData", "get_task", "list_tasks", "register", "prepare_text",
           "splits_from_records", "BASELINES"]


def prepare_text(text: str, modality: str) -> str:
    """The corpus preparation of one input (``secllm.data.corpus.prepare_text`` without chunking).

    Web modalities are canonicalised, every text modality is desensitised (IPs, MACs, e-mails,
    secrets masked: pretraining never saw raw addresses, so the fine-tuned model must not either);
    packet bytes (hex pairs) are cut to the corpus' first ``MAX_FLOW_BYTES`` bytes.

        >>> prepare_text("GET from 10.0.0.7", "log")
        'GET from <ipv4>'
        >>> prepare_text(" ".join(["00"] * 300), "flow").count(" ") + 1
        256
    """
    if modality in ("flow", "pcap"):
        pairs = text.split()
        return " ".join(p.lower() for p in pairs[:MAX_FLOW_BYTES])
    # the masking the shipped models were trained with (issue 18 added phone/card/ID/SSN masks for
    # files and logs; widening the model's input masking needs a retrain: corpus and tasks together)
    return desensitize(model_text(text, modality), MODEL_INPUT_KINDS)


@dataclass
class TaskData:
    """A loaded task: its splits plus bookkeeping for the report's manifest."""

    splits: dict[str, Examples]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def tests(self) -> dict[str, Examples]:
        return {k: v for k, v in self.splits.items() if k == "test" or k.startswith("test:")}


def group_from_source(text: str, source: str) -> str:
    """``TaskSpec.group_of`` for loaders that write ``"<source>:<group>"`` (``source_fn``)."""
    return source.partition(":")[2] or source


@dataclass(frozen=True)
class TaskSpec:
    """One downstream task.

    ``labels`` empty means "the labels found in the training split" (TRAM's 50 techniques).
    ``malicious_labels`` marks the malicious classes of a task without a benign class (USTC-TFC's
    malware families) so that binary metrics can still be reported; ``None`` = no binary view.
    ``input_kind`` tells ``secllm detect`` how to read inputs: ``text`` (one item per line),
    ``flow`` (pcap files → one item per bidirectional flow, or hex-pair lines).
    """

    name: str
    modality: str
    labels: tuple[str, ...]
    benign_label: str | None
    loader: Callable[[Path], dict[str, Any]]
    split_rule: str
    baselines: tuple[str, ...] = ("tfidf-lr",)
    prepare: Callable[[str], str] | None = None
    input_kind: str = "text"
    description: str = ""
    caveats: tuple[str, ...] = ()
    malicious_labels: tuple[str, ...] | None = None
    max_item_chars: int = 64 * 1024
    max_length: int = 128
    detector: str = "generic"          # "web" = secllm.detect.detector.WebAttackDetector
    # the unit the split keeps together, from a row's (prepared text, source) (URL → registered domain,
    # TRAM → report): reports add a macro-F1 interval that resamples these groups (``bootstrap_ci``)
    group_of: Callable[[str, str], str] | None = None
    group_unit: str = "group"

    def prep(self, text: str) -> str:
        """Raw input → the prepared text stored in Examples (before ``model_text``)."""
        return self.prepare(text) if self.prepare else prepare_text(text, self.modality)

    def load(self, root: str | Path) -> TaskData:
        raw = self.loader(Path(root))
        splits = {k: v for k, v in raw.items() if not k.startswith("_")}
        info: dict[str, Any] = dict(raw.get("_info", {}))
        info.update({k.lstrip("_"): v for k, v in raw.items() if k.startswith("_") and k != "_info"})
        return TaskData(splits, info)

    def label_set(self, data: TaskData | dict[str, Examples] | None = None) -> list[str]:
        """The class list: ``labels`` when fixed, else the sorted labels of train (+ val)."""
        if self.labels:
            return list(self.labels)
        if data is None:
            raise ValueError(f"task {self.name!r} derives its labels from data; pass the loaded data")
        splits = data.splits if isinstance(data, TaskData) else data
        found = set(splits["train"].labels) | set(splits.get("val", Examples([], [], [])).labels)
        return sorted(found)

    def is_malicious(self, label: str) -> bool | None:
        if self.benign_label is not None:
            return label != self.benign_label
        if self.malicious_labels is not None:
            return label in self.malicious_labels
        return None


_REGISTRY: dict[str, TaskSpec] = {}
# modules that define ``SPECS`` (a list of TaskSpec); imported on first use so that the registry
# module itself stays cheap and the task modules can import helpers from here
_BUILTIN_MODULES = ("secllm.tasks.web", "secllm.tasks.url", "secllm.tasks.script", "secllm.tasks.traffic",
                    "secllm.tasks.logs", "secllm.tasks.cti", "secllm.tasks.evtx")
_loaded = False


def register(spec: TaskSpec, *, replace: bool = False) -> TaskSpec:
    """Add a task (``replace=True`` to overwrite one of the same name)."""
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"task {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in _BUILTIN_MODULES:
        for spec in importlib.import_module(mod).SPECS:
            _REGISTRY.setdefault(spec.name, spec)


def get_task(name: str) -> TaskSpec:
    """The registered task ``name``; ``KeyError`` names the known ones."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; known tasks: {', '.join(list_tasks())}") from None


def list_tasks() -> list[str]:
    _load_builtins()
    return list(_REGISTRY)


# --------------------------------------------------------------------------------------------
# helpers shared by the task modules
# --------------------------------------------------------------------------------------------

def splits_from_records(records: Iterable[Record], prep: Callable[[str], str], *,
                        label_fn: Callable[[Record], str | None] = lambda r: r.label,
                        split_fn: Callable[[Record], str] = lambda r: r.meta["split"],
                        source_fn: Callable[[Record], str] = lambda r: r.source,
                        ) -> tuple[dict[str, list[tuple[str, str, str, str]]], Counter]:
    """Group prepared rows ``(text, modality, label, source)`` by split name.

    ``source_fn`` makes the row's source; grouped tasks put the split's group in it
    (``"tram:<report>"``) so reports can resample groups (``TaskSpec.group_of``).

    Rows whose prepared text is empty, or whose label is ``None``, are dropped (counted in the
    returned Counter under ``"empty"`` / ``"unlabeled"``).
    """
    out: dict[str, list[tuple[str, str, str, str]]] = {}
    dropped: Counter = Counter()
    for r in records:
        label = label_fn(r)
        if label is None:
            dropped["unlabeled"] += 1
            continue
        text = prep(r.text) if not r.error else ""
        if not text.strip():
            dropped["empty"] += 1
            continue
        out.setdefault(split_fn(r), []).append((text, r.modality, label, source_fn(r)))
    return out, dropped


def finalize_splits(rows: dict[str, list[tuple[str, str, str, str]]], *, modality: str | None = None,
                    ) -> dict[str, Any]:
    """Rows per split → Examples, with leakage control after preparation.

    Preparation (canonicalising, masking) can make different raw rows identical, so: duplicates
    within a split are dropped (first kept), and a validation/test row whose prepared text occurs
    in train (or a test row that occurs in validation) is dropped. The counts go to ``_info``.

        >>> d = finalize_splits({"train": [("a", "log", "x", "s")], "test": [("a", "log", "x", "s"),
        ...                       ("b", "log", "y", "s"), ("b", "log", "y", "s")]})
        >>> d["test"].texts, d["_info"]["dropped"]
        (['b'], {'test': {'duplicate': 1, 'in_train': 1}})
    """
    order = sorted(rows, key=lambda k: (k != "train", k != "val", k))
    seen_train: set[str] = set()
    seen_val: set[str] = set()
    out: dict[str, Any] = {}
    dropped: dict[str, dict[str, int]] = {}
    for split in order:
        kept: list[tuple[str, str, str, str]] = []
        local: set[str] = set()
        d: Counter = Counter()
        for row in rows[split]:
            t = row[0]
            if t in local:
                d["duplicate"] += 1
                continue
            if split != "train" and t in seen_train:
                d["in_train"] += 1
                continue
            if split.startswith("test") and t in seen_val:
                d["in_val"] += 1
                continue
            local.add(t)
            kept.append(row)
        if split == "train":
            seen_train = local
        elif split == "val":
            seen_val = local
        if d:
            dropped[split] = dict(sorted(d.items()))
        out[split] = Examples([r[0] for r in kept], [modality or r[1] for r in kept], [r[2] for r in kept],
                              [r[3] for r in kept])
    for need in ("train", "val"):
        out.setdefault(need, Examples([], [], [], []))
    out["_info"] = {"dropped": dropped,
                    "counts": {k: dict(Counter(v.labels)) for k, v in out.items() if isinstance(v, Examples)}}
    return out


# --------------------------------------------------------------------------------------------
# baselines by name (each: fit(texts, labels) / predict / predict_proba / classes_)
# --------------------------------------------------------------------------------------------

def _tfidf_lr():
    from secllm.eval.baselines import TfidfLogReg

    return TfidfLogReg()


def _tfidf_word_lr():
    from secllm.eval.baselines import TfidfLogReg

    return TfidfLogReg(analyzer="word", ngram_range=(1, 2))


def _length_only():
    from secllm.eval.baselines import LengthOnly

    return LengthOnly()


def _lexical_forest():
    from secllm.eval.baselines import LexicalForest

    return LexicalForest(n_estimators=200)


def _byte_histogram_rf():
    from secllm.eval.baselines import ByteHistogramForest

    return ByteHistogramForest()


def _count_lr():
    from secllm.eval.baselines import CountLogReg

    return CountLogReg()


BASELINES: dict[str, Callable[[], Any]] = {
    "tfidf-lr": _tfidf_lr,                    # char_wb 1-5-gram TF-IDF + logistic regression
    "tfidf-word-lr": _tfidf_word_lr,          # word 1-2-gram TF-IDF + LR (sentences, events)
    "length-only": _length_only,              # shortcut: length alone
    "lexical-forest": _lexical_forest,        # URL lexical counts + random forest
    "byte-histogram-rf": _byte_histogram_rf,  # packet bytes: 256-bin histogram + random forest
    "count-lr": _count_lr,                    # logs: event/word counts + logistic regression
}


def make_baseline(name: str):
    try:
        return BASELINES[name]()
    except KeyError:
        raise KeyError(f"unknown baseline {name!r}; known: {sorted(BASELINES)}") from None


def sample_examples(ex: Examples, limit: int | None, seed: int = 0) -> Examples:
    """A seeded stratified-ish subset of at most ``limit`` rows (every label kept when possible).

        >>> ex = Examples(list("abcdef"), ["log"] * 6, list("xxxxyy"))
        >>> sorted(set(sample_examples(ex, 2).labels))
        ['x', 'y']
    """
    import random

    if limit is None or len(ex) <= limit:
        return ex
    rng = random.Random(seed)
    by: dict[str, list[int]] = {}
    for i, lab in enumerate(ex.labels):
        by.setdefault(lab, []).append(i)
    picked: set[int] = set()
    # one row of every label first (rare classes must survive small limits), then a seeded
    # random fill, which keeps the label proportions of the rest
    for _, idx in sorted(by.items()):
        if len(picked) < limit:
            picked.add(rng.choice(idx))
    rest = [i for i in range(len(ex)) if i not in picked]
    rng.shuffle(rest)
    picked.update(rest[: limit - len(picked)])
    return ex.subset(sorted(picked))


def label_list(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
