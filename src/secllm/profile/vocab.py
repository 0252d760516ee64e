"""Event vocabulary of sequence profiles: events seen in learning -> token ids, four reserved ids.

    >>> v = Vocab.build([["open", "read", "read"]])
    >>> v.tokens[4:], v.encode(["read", "execve"]).tolist()
    (['read', 'open'], [4, 1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PAD, UNK, BOS, END = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, END)
PAD_ID, UNK_ID, BOS_ID, END_ID = 0, 1, 2, 3
MAX_NLL = 30.0             # nats: one event never adds more surprise than this


@dataclass
class Vocab:
    """Events seen in learning -> ids (``0..3`` are ``<pad> <unk> <s> </s>``); an unseen event is ``<unk>``."""

    tokens: list[str]

    @classmethod
    def build(cls, seqs: Sequence[Sequence[str]]) -> "Vocab":
        seen: dict[str, int] = {}
        for s in seqs:
            for e in s:
                seen[e] = seen.get(e, 0) + 1
        return cls(list(SPECIALS) + sorted(seen, key=lambda e: (-seen[e], e)))

    def __post_init__(self) -> None:
        self.index = {t: i for i, t in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, events: Sequence[str]) -> np.ndarray:
        """``(len(events),)`` int64 ids."""
        get = self.index.get
        return np.fromiter((get(e, UNK_ID) for e in events), dtype=np.int64, count=len(events))
