"""A two-model cascade: a small fast model decides the clear parts, the full model the rest.

A web-attack model directory may hold a second, much smaller classifier in ``fast/`` (same
tokenizer, same labels, trained by the same recipe; e.g. the ``cpu-fast`` preset, ~16x fewer
operations per token). Its ``secllm.json`` carries the cascade's two bands, chosen on the
validation split against the full model's own verdicts (:func:`secllm.detect.calibrate.calibrate`), then narrowed so
that evasion-style variants of the validation attacks are not passed where the full model catches
them (:func:`narrow_for_evasion`)::

    "cascade": {"benign_below": 0.004, "malicious_above": 0.97, ...}

A part whose fast malicious score is below ``benign_below`` is benign, above ``malicious_above``
malicious with the fast model's attack type; anything in between goes to the full model. The
bands are the widest for which the cascade's verdict (label and attack type) differs from the full
model's on at most ``max_disagreement`` of the validation parts; that rate, the share of parts
the fast model decided and both models' validation macro-F1 are written next to the bands, and
the benchmarks report the test-split accuracy with the cascade on and off. ``detect(...,
cascade=False)`` / ``secllm detect --no-cascade`` / ``secllm serve --no-cascade`` turn it off.

    python -m secllm.detect.calibrate fast runs/web-pretrained runs/web-fast   # calibrate, attach as fast/
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

FAST_DIR = "fast"
MAX_DISAGREEMENT = 0.002


def verdict_codes(proba: np.ndarray, benign_idx: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(malicious score, verdict code): -1 benign, else the attack class index."""
    mal = 1.0 - proba[:, benign_idx]
    attack = proba.copy()
    attack[:, benign_idx] = -1.0
    code = np.where(mal >= threshold, attack.argmax(1), -1)
    return mal, code


def verdict_labels(proba: np.ndarray, labels: list[str], benign_idx: int, threshold: float) -> list[str]:
    """The verdict per row as a label: the benign label, or the attack class when malicious.

        >>> verdict_labels(np.array([[.9, .1], [.2, .8]]), ["benign", "sqli"], 0, .5)
        ['benign', 'sqli']
    """
    _, code = verdict_codes(proba, benign_idx, threshold)
    return [labels[c] if c >= 0 else labels[benign_idx] for c in code]


def choose_bands(fast_proba: np.ndarray, full_proba: np.ndarray, benign_idx: int, threshold: float,
                 max_disagreement: float = MAX_DISAGREEMENT) -> dict[str, Any]:
    """The widest bands with at most ``max_disagreement`` of the parts judged otherwise than by
    the full model alone (half of that budget for each band).

        >>> full = np.array([[.9, .1], [.9, .1], [.1, .9], [.2, .8]])      # benign, benign, mal, mal
        >>> fast = np.array([[.99, .01], [.6, .4], [.05, .95], [.7, .3]])   # fast scores .01 .4 .95 .3
        >>> b = choose_bands(fast, full, 0, 0.5, max_disagreement=0.0)
        >>> round(b["benign_below"], 3), round(b["malicious_above"], 3), b["val_fast_share"]
        (0.155, 0.5, 0.5)
    """
    n = len(full_proba)
    if n == 0:
        raise ValueError("no validation parts to calibrate on")
    fmal, fcode = verdict_codes(fast_proba, benign_idx, threshold)
    _, gcode = verdict_codes(full_proba, benign_idx, threshold)
    budget = max_disagreement * n / 2
    # benign band: ascending fast score; a disagreement is a part the full model calls malicious
    order = np.argsort(fmal, kind="stable")
    bad = np.cumsum(gcode[order] != -1)
    ok = np.flatnonzero(bad <= budget)
    lo = 0.0
    if len(ok):
        k = ok[-1]                              # parts order[:k+1] may be decided benign
        nxt = fmal[order[k + 1]] if k + 1 < n else 1.0
        lo = float(min((fmal[order[k]] + nxt) / 2, threshold))     # ties with the next part stay out
    # malicious band: descending fast score; a disagreement is a different verdict (label or type)
    order = np.argsort(-fmal, kind="stable")
    bad = np.cumsum(fcode[order] != gcode[order])
    ok = np.flatnonzero(bad <= budget)
    hi = 1.0
    if len(ok):
        k = ok[-1]
        nxt = fmal[order[k + 1]] if k + 1 < n else 0.0
        hi = float(max((fmal[order[k]] + nxt) / 2, threshold))
    if hi <= lo:
        hi = lo
    fast_benign = fmal < lo
    fast_mal = fmal > hi
    decided = fast_benign | fast_mal
    cascade_code = np.where(fast_benign, -1, np.where(fast_mal, fcode, gcode))
    return {"benign_below": lo, "malicious_above": hi, "max_disagreement": max_disagreement,
            "val_parts": int(n), "val_fast_share": round(float(decided.mean()), 4),
            "val_disagreement": round(float((cascade_code != gcode).mean()), 5)}


def band_limits(bands: dict[str, Any], modalities: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-part ``(benign_below, malicious_above)`` arrays: ``bands["by_modality"][m]`` for parts of
    modality ``m`` when present (the payload bands narrowed on evasion variants), else the
    top-level bands.

        >>> lo, hi = band_limits({"benign_below": .5, "malicious_above": .9,
        ...                       "by_modality": {"payload": {"benign_below": .1, "malicious_above": .99}}},
        ...                      ["url", "payload"])
        >>> lo.tolist(), hi.tolist()
        ([0.5, 0.1], [0.9, 0.99])
    """
    lo = np.full(len(modalities), float(bands["benign_below"]))
    hi = np.full(len(modalities), float(bands["malicious_above"]))
    for mod, b in (bands.get("by_modality") or {}).items():
        m = np.fromiter((x == mod for x in modalities), dtype=bool, count=len(modalities))
        lo[m], hi[m] = float(b["benign_below"]), float(b["malicious_above"])
    return lo, hi


def narrow_for_evasion(bands: dict[str, Any], stage_proba: np.ndarray, full_proba: np.ndarray, benign_idx: int,
                       threshold: float, max_disagreement: float = 0.001) -> dict[str, Any]:
    """Narrow the bands of *payload* parts so that on mutated attacks (evasion-style variants of
    validation attacks: encodings, case, comments, whitespace, WAF-a-MoLE rewrites) the stage
    misses at most ``max_disagreement`` of what the full model catches (benign/malicious only: a
    type mix-up is not an evasion). Written as ``bands["by_modality"]["payload"]``; other parts
    (URLs, paths, targets) keep the validation bands — an attack inside a URL is also judged as
    its own parameter-value part. Narrowing never adds a disagreement on the validation parts.

        >>> full = np.array([[.1, .9], [.1, .9], [.2, .8]])          # the full model flags all three
        >>> stage = np.array([[.9, .1], [.3, .7], [.1, .9]])          # the stage would pass the first
        >>> b = narrow_for_evasion({"benign_below": .5, "malicious_above": .95}, stage, full, 0, .5, 0.0)
        >>> b["benign_below"], b["by_modality"]["payload"]["benign_below"] < .1, b["mutated_missed"]
        (0.5, True, 0.0)
    """
    def binary(p: np.ndarray) -> np.ndarray:
        b = p[:, benign_idx]
        return np.stack([b, 1.0 - b], 1)

    m = choose_bands(binary(stage_proba), binary(full_proba), 0, threshold, max_disagreement)
    out = dict(bands)
    lo = float(min(bands["benign_below"], m["benign_below"]))
    hi = float(max(bands["malicious_above"], m["malicious_above"]))
    out["by_modality"] = {"payload": {"benign_below": lo, "malicious_above": hi}}
    mal = 1.0 - stage_proba[:, benign_idx]
    full_mal = (1.0 - full_proba[:, benign_idx]) >= threshold
    passed = mal < lo
    out["mutated_parts"] = int(len(mal))
    out["mutated_max_disagreement"] = max_disagreement
    out["mutated_stage_share"] = round(float(np.mean(passed | (mal > hi))), 4)
    out["mutated_missed"] = round(float(np.mean(passed & full_mal)), 5)    # the stage passes, the full model flags
    return out


def attach(full_dir: str | Path, fast_dir: str | Path, bands: dict[str, Any]) -> Path:
    """Copy the fast model into ``full_dir/fast`` with its bands in ``secllm.json``."""
    full_dir, fast_dir = Path(full_dir), Path(fast_dir)
    dst = full_dir / FAST_DIR
    if dst.resolve() != fast_dir.resolve():
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(fast_dir, dst)
    meta = json.loads((dst / "secllm.json").read_text())
    meta["cascade"] = bands
    (dst / "secllm.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False))
    return dst
