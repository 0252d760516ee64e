"""Traffic classification from packet bytes: USTC-TFC2016, 20 classes, one item per session.

Each item is the L7 payload of one session (the authors' "SessionL7" images, zero padding
removed), deduplicated, with identical images under different labels dropped, then stratified
80/10/10 (seed 0) (``secllm.data.sources.ustc_tfc2016``). The model reads the bytes as hex pairs,
first ``MAX_FLOW_BYTES`` (256) bytes, exactly as the pretraining corpus renders flows.

Masking: L7 payload has no Ethernet/IP/TCP header, so MAC/IP addresses, ports, TCP sequence and
ack numbers and capture timestamps are absent by construction (what EVALUATION.md asks to mask).
Live pcaps go through ``secllm.data.readers.read_pcap(path, mode="flows")``, which builds the same
L7 view per bidirectional flow (and masks headers anyway). A destination-address lookup baseline
cannot be computed: the images carry no addresses; that is a limit of the published data.

    >>> SPECS[0].prepare("4500AB")
    '45 00 ab'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


from secllm.data.corpus import MAX_FLOW_BYTES
from secllm.tasks.registry import TaskSpec, finalize_splits, splits_from_records

LABELS = ("BitTorrent", "Facetime", "FTP", "Gmail", "MySQL", "Outlook", "Skype", "SMB", "Weibo",
          "WorldOfWarcraft", "Cridex", "Geodo", "Htbot", "Miuref", "Neris", "Nsis-ay", "Shifu", "Tinba",
          "Virut", "Zeus")
MALWARE = LABELS[10:]
_HEX = re.compile(r"^[0-9a-fA-F]*$")


def prep(text: str) -> str:
    """Hex bytes (``"45 00 ab"``, ``"4500ab"``, ``"45:00:ab"``) → lower-case pairs, first 256 bytes.

    Raises ``ValueError`` for text that is not hex (the detector reports it as ``bad_input``).
    """
    compact = re.sub(r"[\s:,-]+", "", text)
    if not _HEX.match(compact) or len(compact) % 2:
        raise ValueError("expected hex bytes (pairs of 0-9a-f)")
    compact = compact[: 2 * MAX_FLOW_BYTES].lower()
    return " ".join(compact[i:i + 2] for i in range(0, len(compact), 2))


def bytes_text(data: bytes) -> str:
    """Raw bytes → the prepared text (the path pcap flows take)."""
    return data[:MAX_FLOW_BYTES].hex(" ")


def load(root: Path) -> dict[str, Any]:
    from secllm.data.sources import ustc_tfc2016

    rows, dropped = splits_from_records(ustc_tfc2016(root), prep)
    out = finalize_splits(rows, modality="flow")
    out["_info"]["dropped"]["read"] = dict(dropped)
    out["_info"]["note"] = ("dedupe is on the full 784-byte image; after cutting to 256 bytes more "
                            "rows coincide, and those are dropped from val/test (see dropped)")
    return out


SPECS = [TaskSpec(
    name="traffic", modality="flow", labels=LABELS, benign_label=None, malicious_labels=MALWARE, loader=load,
    split_rule="USTC-TFC2016 20-class SessionL7 (authors' test images): zero padding removed, dedupe, "
               "conflicting images dropped, stratified 80/10/10 (seed 0); one item per session, never per "
               "packet; model reads the first 256 L7 bytes as hex pairs",
    baselines=("byte-histogram-rf", "tfidf-lr"), prepare=prep, input_kind="flow",
    description="session L7 bytes (pcap flows or hex) → application / malware family",
    caveats=("only the authors' test images are published here (re-split); the class mapping is verified "
             "for Facetime and Tinba only, inferred for the rest",
             "L7 payload carries no addresses/ports/seq/timestamps, so no destination-address lookup baseline "
             "is possible; plaintext host names inside payloads are not masked",
             "binary metrics treat the 10 malware families as malicious"),
)]
