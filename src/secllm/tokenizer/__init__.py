"""The security tokenizer: byte-level BPE trained on the security corpus, with modality tags.

Byte-level means no input is ever out of vocabulary (every byte has a token). Packet bytes reach
the tokenizer as hex pairs (``"45 00 3c"``) so that BPE learns frequent byte n-grams as tokens.
Each sequence is ``[CLS] [MODALITY] tokens... [SEP]``; the tag tells the shared base which kind
of data it reads.

    >>> tok = train_tokenizer(["select * from users", "<script>alert(1)</script>"] * 50, vocab_size=300)
    >>> enc = tok.encode_batch(["select 1"], modality="payload", max_length=16)
    >>> enc.input_ids[0][:2] == [tok.cls_id, tok.tag_id("payload")]
    True

The serving path imports only ``tokenizers`` (no torch, no transformers).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from secllm.data.records import MODALITIES

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIAL_TOKENS = [PAD, UNK, CLS, SEP, MASK]
TAGS = [f"[{m.upper()}]" for m in MODALITIES]


def tag_token(modality: str) -> str:
    return f"[{modality.upper()}]"


@dataclass
class Encoded:
    """A padded batch. ``offsets[b][t]`` is the (start, end) character span of token t in text b
    ((0, 0) for special and pad tokens)."""

    input_ids: list[list[int]]
    attention_mask: list[list[int]]
    offsets: list[list[tuple[int, int]]]


class SecTokenizer:
    """Thin wrapper over a ``tokenizers.Tokenizer`` that adds modality tags and batching."""

    def __init__(self, tokenizer: Tokenizer):
        self.tok = tokenizer
        vocab = tokenizer.get_vocab()
        missing = [t for t in SPECIAL_TOKENS + TAGS if t not in vocab]
        if missing:
            raise ValueError(f"tokenizer lacks special tokens {missing}: it was not made by secllm")
        self.pad_id, self.unk_id = vocab[PAD], vocab[UNK]
        self.cls_id, self.sep_id, self.mask_id = vocab[CLS], vocab[SEP], vocab[MASK]
        self._tag_ids = {m: vocab[tag_token(m)] for m in MODALITIES}
        # Hostile input may contain "[MASK]" or "[CLS]": never let text become a special token.
        # Tags and specials are inserted by id only.
        self.tok.encode_special_tokens = True
        self.special_ids = sorted({self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id,
                                   *self._tag_ids.values()})

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size()

    def tag_id(self, modality: str) -> int:
        try:
            return self._tag_ids[modality]
        except KeyError:
            raise ValueError(f"unknown modality {modality!r}; expected one of {MODALITIES}") from None

    def encode_batch(self, texts: Sequence[str], modality: str | Sequence[str], max_length: int = 128,
                     pad: bool = True, offsets: bool = True) -> Encoded:
        """Encode texts as ``[CLS] [TAG] ... [SEP]``, truncated to ``max_length`` tokens in all.

        ``offsets=False`` leaves ``Encoded.offsets`` empty (scoring needs no character spans;
        building them is a third of the encoding time on short parts)."""
        mods = [modality] * len(texts) if isinstance(modality, str) else list(modality)
        encode = self.tok.encode_batch if offsets else self.tok.encode_batch_fast
        encs = encode(list(texts), add_special_tokens=False)
        room = max_length - 3
        ids, offs = [], []
        cls_id, sep_id, tags = self.cls_id, self.sep_id, {m: self.tag_id(m) for m in set(mods)}
        for e, m in zip(encs, mods):
            ids.append([cls_id, tags[m], *e.ids[:room], sep_id])
            if offsets:
                offs.append([(0, 0), (0, 0), *[tuple(o) for o in e.offsets[:room]], (0, 0)])
        width = max((len(x) for x in ids), default=0)
        mask = [[1] * len(x) + [0] * (width - len(x)) if pad else [1] * len(x) for x in ids]
        if pad:
            ids = [x + [self.pad_id] * (width - len(x)) for x in ids]
            offs = [o + [(0, 0)] * (width - len(o)) for o in offs]
        return Encoded(ids, mask, offs)

    def windows(self, text: str, max_length: int = 128, overlap: int = 16) -> list[tuple[int, int]]:
        """Character spans of ``text`` that each fit in one ``max_length`` sequence (with its
        [CLS] [TAG] ... [SEP]), overlapping by ``overlap`` tokens, covering all of ``text``.

        ``encode_batch`` truncates: a long text read as one sequence is judged on its head only.
        Scoring each window instead reads every character (the detector's budget bounds how many).

            >>> tok = train_tokenizer(["ab cd ef gh"] * 20, vocab_size=270)
            >>> tok.windows("ab cd", max_length=16)
            [(0, 5)]
            >>> len(tok.windows(" ".join(["ab"] * 100), max_length=16, overlap=2)) > 1
            True
        """
        # a few tokens of slack: a window re-tokenised alone may split one word differently
        room = max(1, max_length - 3 - 4)
        if len(text.encode("utf-8", "surrogatepass")) <= room:     # a token holds at least one byte
            return [(0, len(text))]
        offs = self.tok.encode(text, add_special_tokens=False).offsets
        if len(offs) <= room:
            return [(0, len(text))]
        step = max(1, room - overlap)
        out = []
        for i in range(0, len(offs), step):
            j = min(i + room, len(offs))
            out.append((offs[i][0] if i else 0, offs[j - 1][1] if j < len(offs) else len(text)))
            if j == len(offs):
                break
        return out

    def decode(self, ids: Iterable[int]) -> str:
        return self.tok.decode([i for i in ids if i not in self.special_ids])

    def save(self, directory: str | Path) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.tok.save(str(d / "tokenizer.json"))

    @classmethod
    def load(cls, directory: str | Path) -> "SecTokenizer":
        p = Path(directory) / "tokenizer.json"
        if not p.exists():
            raise FileNotFoundError(f"{p} not found: is {directory} a secllm model directory?")
        return cls(Tokenizer.from_file(str(p)))

    def fingerprint(self) -> str:
        """sha256 of the vocabulary, stored in model configs so mismatched pairs are refused."""
        import hashlib

        vocab = sorted(self.tok.get_vocab().items())
        return hashlib.sha256(json.dumps(vocab).encode()).hexdigest()[:16]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2) -> SecTokenizer:
    """Train a byte-level BPE on ``texts`` (the pretraining corpus: training splits only)."""
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    # ByteLevel maps every byte to a printable char, so any input (even invalid UTF-8 decoded with
    # latin-1) has a token path; offsets still index the original string.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS + TAGS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return SecTokenizer(tok)
