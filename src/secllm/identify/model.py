"""The identifier: structural checks first, a small hashed-n-gram model for the rest (numpy only).

    >>> idf = Identifier.load()
    >>> r = idf.identify("GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n")
    >>> r.kind, r.method, r.status
    ('http-request', 'rule', 'ok')
    >>> idf.identify("Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 1.2.3.4 port 22 ssh2").label
    'log-line/openssh'
    >>> [x.kind for x in idf.identify_batch(["1' or 1=1--", "", b"\\x00\\x01\\x02\\x03"])]
    ['payload', 'unknown', 'binary']

Bad input is data, never an exception: ``b""`` or blanks give status ``empty``; bytes that are not
UTF-8 are read as latin-1 (status ``invalid-utf8``); an input longer than ``read_limit`` characters
is identified from its start (status ``truncated``); anything unexpected gives status ``error``.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from secllm.identify.features import DENSE_NAMES, FeatureConfig, encode_batch, featurize
from secllm.identify.kinds import KINDS, FileIdentification, Identification, Status
from secllm.identify.rules import RULE_CONFIDENCE, control_fraction, sniff_magic, structural

__all__ = ["Identifier", "DEFAULT_IDENTIFY_DIR", "save_model"]

DEFAULT_IDENTIFY_DIR = Path(__file__).resolve().parent.parent / "assets" / "identify"
FORMAT = "secllm-identify"
VERSION = 1

# Kinds whose natural unit is a whole file (or a whole pasted block), not one line.
FILE_KINDS = frozenset({"script-powershell", "script-javascript", "script-php", "script-shell", "script-python",
                        "script-other", "http-request", "pcap", "binary", "windows-event"})
READ_LIMIT = 16 * 1024          # characters of one item that are looked at
BINARY_CONTROL_SHARE = 0.10     # more control characters than this: not text
FILE_HEAD_BYTES = 64 * 1024     # bytes of a file read for magic numbers and the whole-file view
FILE_SAMPLE_BYTES = 4 << 20     # bytes of a file from which lines are sampled
MIXED_SHARE = 0.9               # lines agreeing on one label for a file not to be "mixed"
LINE_CONFIDENCE = 0.9           # a sampled line "stands alone" when identified this confidently ...
LINE_LIKE_SHARE = 0.8           # ... and a file whose lines mostly stand alone is a file of lines


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def quantize_embedding(embed_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes and one float scale per embedding dimension (row of ``embed_t``, (dim, buckets)).

    The embedding is most of the model's bytes; int8 with a per-dimension scale keeps it at one byte
    per number, and quantizing an already quantized matrix gives it back unchanged.
    """
    scale = np.abs(embed_t).max(axis=1) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(embed_t / scale[:, None]), -127, 127).astype(np.int8)
    return q, scale


def dequantize_embedding(q: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) * scale[:, None]


def save_model(out_dir: str | os.PathLike, *, cfg: FeatureConfig, labels: list[str], embed: np.ndarray,
               proj: np.ndarray, w_prefix: np.ndarray, w_dense: np.ndarray, bias: np.ndarray, threshold: float,
               meta: dict | None = None) -> Path:
    """Write a model directory: ``model.safetensors`` (weights) + ``config.json`` (everything else).

    ``embed`` (buckets, dim) is stored as int8 codes + per-dimension scales, ``w_prefix`` as float16
    (together they are most of the bytes);
    the config records the weights' SHA-256 so that a config cannot be paired with other weights.
    """
    from safetensors.numpy import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    q, scale = quantize_embedding(np.asarray(embed, dtype=np.float32).T)
    tensors = {
        "embed_q": q,                                                     # (dim, buckets) int8: gathered by column
        "embed_scale": scale,                                             # (dim,)
        "proj": proj.astype(np.float32),                                  # (dim, K)
        "prefix": w_prefix.astype(np.float16),                            # (prefix buckets, K)
        "dense": w_dense.astype(np.float32),                              # (len(DENSE_NAMES), K)
        "bias": bias.astype(np.float32),                                  # (K,)
    }
    # safetensors writes an array's memory as it lies: a transposed view would come back scrambled
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(out / "model.safetensors"))
    config = {
        "format": FORMAT,
        "version": VERSION,
        "features": cfg.to_json(),
        "dense_names": list(DENSE_NAMES),
        "labels": list(labels),
        "threshold": float(threshold),
        "rule_confidence": RULE_CONFIDENCE,
        "weights_sha256": _sha256(out / "model.safetensors"),
        "meta": meta or {},
    }
    (out / "config.json").write_text(json.dumps(config, indent=1, ensure_ascii=False) + "\n")
    return out


class Identifier:
    """Says what an input is. Load the shipped model with :meth:`load`."""

    def __init__(self, cfg: FeatureConfig, labels: list[str], embed_t: np.ndarray, proj: np.ndarray,
                 w_prefix: np.ndarray, w_dense: np.ndarray, bias: np.ndarray, threshold: float,
                 meta: dict | None = None):
        k = len(labels)
        if proj.shape[1] != k or w_prefix.shape[1] != k or w_dense.shape != (len(DENSE_NAMES), k) or bias.shape != (k,):
            raise ValueError("identifier weights do not match its labels")
        if embed_t.shape != (proj.shape[0], 1 << cfg.buckets_log2) or w_prefix.shape[0] != 1 << cfg.prefix_log2:
            raise ValueError("identifier weights do not match its feature config")
        self.cfg = cfg
        self.labels = list(labels)
        self.embed_t = np.ascontiguousarray(embed_t, dtype=np.float32)
        self.proj = proj.astype(np.float32)
        self.w_prefix = w_prefix.astype(np.float32)
        self.w_dense = w_dense.astype(np.float32)
        self.bias = bias.astype(np.float32)
        self.threshold = float(threshold)
        self.meta = meta or {}
        self.kinds = [lab.split(":", 1)[0] for lab in self.labels]
        self.families = [lab.split(":", 1)[1] if ":" in lab else None for lab in self.labels]
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise ValueError(f"identifier labels name unknown kinds {unknown}")
        # (K, kinds) 0/1: sums the probabilities of a kind's labels (its families) into the kind
        self._kind_names = sorted(set(self.kinds), key=KINDS.index)
        self._label_to_kind = np.zeros((k, len(self._kind_names)), dtype=np.float32)
        self._label_to_kind[np.arange(k), [self._kind_names.index(x) for x in self.kinds]] = 1.0
        self._kind_members = self._label_to_kind.T.astype(bool)                 # (kinds, K)
        # prefix rows plus a zero row that index -1 (an item shorter than the prefix) picks
        self._prefix_padded = np.vstack([self.w_prefix, np.zeros((1, k), np.float32)])

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Identifier:
        """Load a model directory (default: the shipped one, or ``SECLLM_IDENTIFY_MODEL``)."""
        from safetensors.numpy import load_file

        d = Path(path or os.environ.get("SECLLM_IDENTIFY_MODEL") or DEFAULT_IDENTIFY_DIR)
        cfg_path, w_path = d / "config.json", d / "model.safetensors"
        if not cfg_path.is_file() or not w_path.is_file():
            raise FileNotFoundError(f"{d} is not an identifier model directory (config.json + model.safetensors)")
        config = json.loads(cfg_path.read_text())
        if config.get("format") != FORMAT or config.get("version") != VERSION:
            raise ValueError(f"{cfg_path}: not a {FORMAT} v{VERSION} config")
        if config.get("dense_names") != list(DENSE_NAMES):
            raise ValueError(f"{cfg_path}: made with other shape features than this code computes")
        if config.get("weights_sha256") != _sha256(w_path):
            raise ValueError(f"{w_path} does not belong to {cfg_path} (checksum differs)")
        t = load_file(str(w_path))
        return cls(FeatureConfig.from_json(config["features"]), config["labels"],
                   dequantize_embedding(t["embed_q"], t["embed_scale"]), t["proj"],
                   t["prefix"], t["dense"], t["bias"], config["threshold"], config.get("meta"))

    def save(self, out_dir: str | os.PathLike) -> Path:
        return save_model(out_dir, cfg=self.cfg, labels=self.labels, embed=self.embed_t.T, proj=self.proj,
                          w_prefix=self.w_prefix, w_dense=self.w_dense, bias=self.bias, threshold=self.threshold,
                          meta=self.meta)

    # -- the learned part --------------------------------------------------------------------------
    def label_probabilities(self, texts: list[str]) -> np.ndarray:
        """(n, len(labels)) softmax probabilities of the learned model alone (no rules)."""
        if not texts:
            return np.zeros((0, len(self.labels)), dtype=np.float32)
        f = featurize(texts, self.cfg, encode_batch(texts, self.cfg.max_bytes))
        n = f.n_items
        hidden = np.zeros((self.embed_t.shape[0], n), dtype=np.float32)          # (dim, n)
        for ids, counts in zip(f.ids, f.counts):
            nonempty = np.flatnonzero(counts)
            if nonempty.size == 0:
                continue
            cols = np.take(self.embed_t, ids, axis=1)                           # (dim, P): each row contiguous
            starts = np.cumsum(counts)[nonempty] - counts[nonempty]
            hidden[:, nonempty] += np.add.reduceat(cols, starts, axis=1)
        hidden /= np.maximum(f.total, 1)[None, :]
        logits = hidden.T @ self.proj                                           # (n, K)
        for j in range(f.prefix_ids.shape[1]):                                  # -1 (no such byte) → the zero row
            logits += np.take(self._prefix_padded, f.prefix_ids[:, j], axis=0)
        logits += f.dense @ self.w_dense + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        return p

    def _decide(self, p: np.ndarray, statuses: list[str]) -> list[Identification]:
        """Identifications from label probabilities (n, K): kind = the kind whose labels sum highest."""
        kind_p = p @ self._label_to_kind                                        # (n, kinds)
        best = kind_p.argmax(axis=1)
        conf = kind_p[np.arange(len(best)), best]
        top = np.argsort(-kind_p, axis=1)[:, :3]
        fam = np.where(self._kind_members[best], p, -1.0).argmax(axis=1)        # best label of the chosen kind
        top_p, fam_p = kind_p[np.arange(len(best))[:, None], top].tolist(), p[np.arange(len(best)), fam].tolist()
        top = top.tolist()
        out = []
        for i, status in enumerate(statuses):
            kind = self._kind_names[top[i][0]]
            c = float(conf[i])
            scores = {self._kind_names[j]: round(q, 4) for j, q in zip(top[i], top_p[i]) if q >= 0.001}
            family = self.families[fam[i]] if kind in ("log-line", "access-log") else None
            if family:
                scores[f"{kind}:{family}"] = round(fam_p[i], 4)
            if c < self.threshold:
                out.append(Identification("unknown", None, c, scores, status, "model",
                                          f"best guess {kind} below the confidence threshold {self.threshold:g}"))
            else:
                out.append(Identification(kind, family, c, scores, status, "model"))
        return out

    # -- identification ----------------------------------------------------------------------------
    @staticmethod
    def _prepare(item: str | bytes | bytearray | memoryview) -> tuple[str | None, str, Identification | None]:
        """(bounded text or None, status, decided result or None) for one raw input."""
        status = Status.OK.value
        if isinstance(item, (bytes, bytearray, memoryview)):
            raw = bytes(item)
            if not raw.strip():
                return None, Status.EMPTY.value, Identification("unknown", None, 0.0, {}, Status.EMPTY.value, "none")
            hit = sniff_magic(raw[:16])
            if hit:
                return None, status, Identification(hit.kind, hit.family, RULE_CONFIDENCE, {hit.kind: RULE_CONFIDENCE},
                                                    status, "rule")
            head = raw[: READ_LIMIT * 4]
            try:
                text = head.decode("utf-8")
            except UnicodeDecodeError as e:
                # A multi-byte character cut by the bound is not an encoding error.
                if e.start >= len(head) - 3 and len(raw) > len(head):
                    text = head[: e.start].decode("utf-8")
                else:
                    text = head.decode("latin-1")
                    status = Status.INVALID_UTF8.value
            truncated = len(raw) > len(head) or len(text) > READ_LIMIT
        elif isinstance(item, str):
            text = item[:READ_LIMIT]
            truncated = len(item) > READ_LIMIT
        else:
            return None, Status.ERROR.value, Identification("unknown", None, 0.0, {}, Status.ERROR.value, "none",
                                                            f"cannot identify a {type(item).__name__}")
        text = text[:READ_LIMIT]
        if truncated and status == Status.OK.value:
            status = Status.TRUNCATED.value
        if not text.strip():
            return None, Status.EMPTY.value, Identification("unknown", None, 0.0, {}, Status.EMPTY.value, "none")
        if text.startswith(("\xd4\xc3\xb2\xa1", "\xa1\xb2\xc3\xd4", "\x0a\x0d\x0d\x0a", "\x4d\x3c\xb2\xa1", "\xa1\xb2\x3c\x4d")):
            return None, status, Identification("pcap", None, RULE_CONFIDENCE, {"pcap": RULE_CONFIDENCE}, status, "rule")
        if control_fraction(text[:4096]) > BINARY_CONTROL_SHARE:
            return None, status, Identification("binary", None, RULE_CONFIDENCE, {"binary": RULE_CONFIDENCE}, status, "rule")
        hit = structural(text)
        if hit:
            return None, status, Identification(hit.kind, hit.family, RULE_CONFIDENCE, {hit.kind: RULE_CONFIDENCE},
                                                status, "rule")
        return text, status, None

    def identify(self, item: str | bytes) -> Identification:
        """What one input is (see :meth:`identify_batch`, which is faster for many)."""
        return self.identify_batch([item])[0]

    def identify_batch(self, items: Sequence[str | bytes], batch_size: int = 4096) -> list[Identification]:
        """What each input is, in order: structural checks, then the model on the rest in batches."""
        out: list[Identification | None] = [None] * len(items)
        pending: list[tuple[int, str, str]] = []
        for i, item in enumerate(items):
            try:
                text, status, res = self._prepare(item)
            except Exception as e:  # noqa: BLE001 - one odd input must not lose the batch
                text, status, res = None, Status.ERROR.value, Identification(
                    "unknown", None, 0.0, {}, Status.ERROR.value, "none", f"{type(e).__name__}: {e}")
            if res is not None:
                out[i] = res
            else:
                pending.append((i, text, status))  # type: ignore[arg-type]
        for s in range(0, len(pending), batch_size):
            chunk = pending[s:s + batch_size]
            try:
                decided = self._decide(self.label_probabilities([t for _, t, _ in chunk]), [st for _, _, st in chunk])
                for (i, _, _), res in zip(chunk, decided):
                    out[i] = res
            except Exception as e:  # noqa: BLE001
                for i, _, _ in chunk:
                    out[i] = Identification("unknown", None, 0.0, {}, Status.ERROR.value, "none", f"{type(e).__name__}: {e}")
        return out  # type: ignore[return-value]

    # -- files -------------------------------------------------------------------------------------
    def identify_file(self, path: str | os.PathLike, *, sample_lines: int = 256) -> FileIdentification:
        """What a file is: one item (a script, a capture, a document) or lines of one kind, or mixed.

        Reads at most ``FILE_SAMPLE_BYTES`` (gzip is read through); samples up to ``sample_lines``
        non-empty lines evenly from them and identifies each; identifies the first 16 KiB as one
        item too. Lines that stand alone (identified confidently as a one-per-line kind) and agree
        (≥ 90% one label) make a line file of that label; lines that mostly do not stand alone
        leave the decision to the whole-file view when it is a file kind (script, raw requests,
        a multi-line event record); otherwise the file is ``mixed``: route it line by line.
        """
        p = Path(path)
        compressed = None
        try:
            with open(p, "rb") as f:
                magic = f.read(4)
            opener = gzip.open if magic[:2] == b"\x1f\x8b" else open
            compressed = "gzip" if opener is gzip.open else None
            with opener(p, "rb") as f:
                data = f.read(FILE_SAMPLE_BYTES)
        except (OSError, EOFError, zlib.error) as e:
            return FileIdentification("unknown", None, 0.0, False, "file", status=Status.ERROR.value,
                                      compressed=compressed, message=f"cannot read {p.name}: {e}")
        if not data.strip():
            return FileIdentification("unknown", None, 0.0, False, "file", status=Status.EMPTY.value,
                                      compressed=compressed)
        hit = sniff_magic(data[:16])
        if hit:
            return FileIdentification(hit.kind, hit.family, RULE_CONFIDENCE, False, "file", compressed=compressed)
        whole = self.identify(data[:FILE_HEAD_BYTES])
        if whole.kind == "binary":
            return FileIdentification("binary", whole.family, whole.confidence, False, "file", status=whole.status,
                                      compressed=compressed)
        lines = [ln for ln in data.splitlines() if ln.strip()]
        if len(data) == FILE_SAMPLE_BYTES and len(lines) > 1:
            lines = lines[:-1]  # the last line may be cut by the read bound
        if len(lines) > sample_lines:
            step = len(lines) / sample_lines
            lines = [lines[int(i * step)] for i in range(sample_lines)]
        per_line = self.identify_batch(lines)
        counts = Counter(r.label for r in per_line)
        top_label, top_n = counts.most_common(1)[0]
        share = top_n / len(per_line)
        top = next(r for r in per_line if r.label == top_label)
        mean_conf = float(np.mean([r.confidence for r in per_line if r.label == top_label]))
        status = whole.status if whole.status != Status.TRUNCATED.value else Status.OK.value
        # Lines "stand alone" when each is confidently a kind that comes one per line (a log, a URL
        # list, JSON event records); the lines of a script or of a multi-line record do not.
        line_like = sum((r.kind not in FILE_KINDS or r.method == "rule" and r.kind == "windows-event")
                        and r.kind != "unknown" and r.confidence >= LINE_CONFIDENCE for r in per_line) / len(per_line)
        if len(lines) > 1 and share >= MIXED_SHARE and top.kind != "unknown" and line_like >= MIXED_SHARE:
            return FileIdentification(top.kind, top.family, mean_conf * share, False, "line", dict(counts),
                                      len(per_line), share, status, compressed)
        if (whole.kind in FILE_KINDS and line_like < LINE_LIKE_SHARE) or len(lines) == 1:
            return FileIdentification(whole.kind, whole.family, whole.confidence, False, "file", dict(counts),
                                      len(per_line), share, status, compressed)
        kind_share = Counter(r.kind for r in per_line)
        top_kind, kn = kind_share.most_common(1)[0]
        mixed = kn / len(per_line) < MIXED_SHARE
        family = top.family if top.kind == top_kind and not mixed else None
        return FileIdentification(top_kind, family, mean_conf * kn / len(per_line), mixed, "line", dict(counts),
                                  len(per_line), share, status, compressed)
