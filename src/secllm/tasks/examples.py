"""``Examples``: labeled rows of one task (no torch here, so torch-free serving can import the tasks).

    >>> ex = Examples(texts=["' or 1=1--", "john"], modalities=["payload"] * 2, labels=["sqli", "benign"])
    >>> len(ex), ex.subset([1]).labels
    (2, ['benign'])
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Examples:
    """Labeled training/eval rows: raw texts (model_text is applied at encoding)."""

    texts: list[str]
    modalities: list[str]
    labels: list[str]
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx) -> "Examples":
        idx = list(idx)
        return Examples([self.texts[i] for i in idx], [self.modalities[i] for i in idx],
                        [self.labels[i] for i in idx], [self.sources[i] for i in idx] if self.sources else [])
