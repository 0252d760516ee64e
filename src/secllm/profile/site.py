"""Learning mode: learn a site (or system) profile from its normal traffic, then score new traffic.

    >>> urls = [f"/item?id={i}&sort=asc" for i in range(100)]
    >>> p = learn_profile(urls, "shop", out_dir=tempfile.mkdtemp(), use_model=False)
    >>> r = ProfileScorer(p).score(["/item?id=7&sort=asc", "/backup.zip"])
    >>> [x.verdict for x in r], r[1].evidence[0]
    (['normal', 'anomalous'], 'endpoint `/backup.zip` never seen')

How it works. The learning items are split by order: the first ``1 - calibrate_fraction`` are
learned (the structure model, :mod:`secllm.profile.structure`, and, when a fine-tuned detector
is available, a density model over its encoder, :mod:`secllm.profile.density`); the rest is
held back. Every raw score (structure deviation, embedding distance, the generic detector's
P(attack)) is turned into its tail probability among the held-back normals
(:class:`secllm.profile.stats.TailCalibrator`), the probabilities are combined
(:func:`secllm.profile.stats.combine_pvalues`, ``"max"`` rule by default) and the decision
threshold is the one that flags ``fpr`` of the held-back normals. Two verdicts come out:
``deviation_verdict`` (the profile alone: structure + density) and ``verdict`` (profile + generic
detector). No label is used anywhere.

A profile is a directory: ``profile.json`` (models, calibration metadata, thresholds) and
``.npy`` arrays (density Gaussians, calibration scores), loaded with ``allow_pickle=False``; a
sequence profile (``fmt`` ``sessions``/``strace``/``syscalls``, :mod:`secllm.profile.sequence`)
keeps its tables and weights in ``sequence.safetensors``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile  # noqa: F401 - used by the docstring example
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from secllm.data.corpus import scrub_surrogates
from secllm.paths import DEFAULT_MODEL_DIR, home, open_private, private_dir
from secllm.profile.density import DensityModel, Embedder, embed_jobs
from secllm.profile.logs import LogModel, split_session
from secllm.profile.sequence import DEFAULT_CANDIDATES, SequenceModel
from secllm.profile.stats import COMBINE_RULES, TailCalibrator, combine_pvalues, threshold_at_fpr
from secllm.profile.structure import Observation, StructureModel, parse_observation

FORMAT = "secllm-profile"
FORMAT_VERSION = 1
MIN_ITEMS = 20
WEB_FORMATS = ("auto", "http", "url", "access-log")
LOG_FORMATS = ("log",)
SEQUENCE_FORMATS = ("sessions", "strace", "syscalls")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
EVIDENCE_MIN = 0.4            # weighted finding strength worth reporting
MAX_EVIDENCE = 5


class ProfileError(ValueError):
    """A profile cannot be learned, found or applied; ``code`` says why, the message what to do.

    Codes: ``empty``, ``too_small``, ``malformed`` (learning sets), ``bad_name``, ``not_found``,
    ``exists``, ``bad_profile``, ``model_mismatch``.
    """

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class ProfileResult:
    """How one item compares to the profile.

    ``deviation`` is the raw structure score (sum of KV-style component scores), ``density`` the
    embedding distance (1.0 = the learned 99th percentile), ``detector_score`` the generic
    detector's P(attack); ``deviation_p`` / ``combined_p`` are tail probabilities among the
    site's held-back normal traffic (small = unusual) and ``score = 1 - combined_p``.
    """

    id: str
    status: str = "ok"                         # ok / bad_input
    endpoint: str | None = None
    deviation: float | None = None
    density: float | None = None
    detector_score: float | None = None
    deviation_p: float | None = None
    combined_p: float | None = None
    score: float | None = None
    deviation_verdict: str | None = None       # normal / anomalous (profile alone)
    verdict: str | None = None                 # normal / anomalous (profile + generic detector)
    evidence: list[str] = field(default_factory=list)
    error: str | None = None
    sequence: dict[str, Any] | None = None     # sequence profiles: events, features, surprising windows

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        if d["sequence"] is None:
            d.pop("sequence")
        for k in ("deviation", "density", "detector_score", "deviation_p", "combined_p", "score"):
            if d[k] is not None:
                d[k] = float(f"{d[k]:.6g}")
        return d


# ------------------------------------------------------------------------------------------------
# The profile artifact
# ------------------------------------------------------------------------------------------------

@dataclass
class SiteProfile:
    """A learned profile (``kind`` ``web``, ``log`` or ``sequence``); see the module docstring."""

    name: str
    kind: str
    meta: dict[str, Any]
    structure: StructureModel | None = None
    log_model: LogModel | None = None
    density: DensityModel | None = None
    sequence: SequenceModel | None = None
    calibrators: dict[str, TailCalibrator] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)      # p-value thresholds
    path: Path | None = None

    @property
    def combine(self) -> str:
        return self.meta.get("combine", "max")

    @property
    def model(self) -> dict[str, Any] | None:
        return self.meta.get("model")

    def save(self, d: str | Path) -> Path:
        """Write the profile into ``d``: the folder is 0700 and every file 0600 (a profile is learned
        from a site's traffic; see docs/privacy.md for what it keeps)."""
        d = private_dir(d)
        doc: dict[str, Any] = {"format": FORMAT, "version": FORMAT_VERSION, "name": self.name, "kind": self.kind,
                               **self.meta, "thresholds": self.thresholds, "calibration": {}}
        for comp, cal in self.calibrators.items():
            fname = f"calibration_{comp}.npy"
            with open_private(d / fname) as f:
                np.save(f, cal.scores, allow_pickle=False)
            doc["calibration"][comp] = {"file": fname, "scale": cal.scale, "n": int(len(cal.scores))}
        if self.structure is not None:
            doc["structure"] = self.structure.to_json()
        if self.log_model is not None:
            doc["log_model"] = self.log_model.to_json()
        if self.density is not None:
            doc["density"] = self.density.save(d)
        if self.sequence is not None:
            doc["sequence"] = self.sequence.save(d)
        with open_private(d / "profile.json", "w") as f:
            f.write(scrub_surrogates(json.dumps(doc, ensure_ascii=False, indent=1)))
        for p in d.iterdir():             # files other modules added (e.g. sequence models) are private too
            if p.is_file():
                os.chmod(p, 0o600)
        self.path = d
        return d

    @classmethod
    def load(cls, d: str | Path) -> "SiteProfile":
        d = Path(d)
        try:
            doc = json.loads((d / "profile.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ProfileError("bad_profile", f"{d} is not a readable profile ({exc}); relearn it with "
                                              "`secllm learn`") from exc
        if doc.get("format") != FORMAT:
            raise ProfileError("bad_profile", f"{d / 'profile.json'} is not a secllm profile")
        if doc.get("version", 0) > FORMAT_VERSION:
            raise ProfileError("bad_profile", f"{d} was written by a newer secllm; upgrade secllm")
        cals = {}
        for comp, c in doc.pop("calibration").items():
            scores = np.load(d / c["file"], allow_pickle=False)
            cals[comp] = TailCalibrator(np.sort(scores.astype(np.float64)), float(c["scale"]))
        structure = StructureModel.from_json(doc.pop("structure")) if "structure" in doc else None
        log_model = LogModel.from_json(doc.pop("log_model")) if "log_model" in doc else None
        density = DensityModel.load(d, doc.pop("density")) if "density" in doc else None
        sequence = SequenceModel.load(d, doc.pop("sequence")) if "sequence" in doc else None
        thresholds = doc.pop("thresholds")
        name, kind = doc.pop("name"), doc.pop("kind")
        for k in ("format", "version"):
            doc.pop(k)
        return cls(name, kind, doc, structure, log_model, density, sequence, cals, thresholds, d)

    def summary(self) -> dict[str, Any]:
        """What ``secllm profiles show`` prints: sizes, thresholds, top endpoints/templates."""
        s: dict[str, Any] = {"name": self.name, "kind": self.kind, "path": str(self.path) if self.path else None,
                             **{k: v for k, v in self.meta.items()}, "thresholds": self.thresholds,
                             "components": sorted(self.calibrators)}
        if self.structure is not None:
            eps = sorted(self.structure.endpoints.items(), key=lambda kv: -kv[1].n)
            s["endpoints"] = {k: {"requests": v.n, "methods": v.methods, "parameters": sorted(v.presence)}
                              for k, v in eps[:20]}
            s["n_endpoints"] = len(eps)
            s["methods"] = self.structure.methods
        if self.sequence is not None:
            s["sequence_model"] = {"model": self.sequence.model_name_, "why": self.sequence.why,
                                   "selection": self.sequence.selection_, "events": len(self.sequence.vocab_) - 4,
                                   "window": self.sequence.window, "features": list(self.sequence.features),
                                   "combine": self.sequence.combine}
        if self.log_model is not None:
            s["n_templates"] = len(self.log_model.templates)
            s["top_templates"] = dict(sorted(self.log_model.templates.items(), key=lambda kv: -kv[1])[:10])
        return s


# ------------------------------------------------------------------------------------------------
# Where profiles live
# ------------------------------------------------------------------------------------------------

def profiles_dir() -> Path:
    """``$SECLLM_HOME/profiles`` (default ``~/.secllm/profiles``)."""
    return home() / "profiles"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ProfileError("bad_name", f"profile name {name!r} is not allowed: use letters, digits, '_', '-', "
                                       "'.' (at most 64, not starting with '.' or '-')")
    return name


def load_profile(name_or_dir: str | Path) -> SiteProfile:
    """Load a profile by name (from :func:`profiles_dir`) or from a directory."""
    p = Path(name_or_dir)
    if (p / "profile.json").is_file():
        return SiteProfile.load(p)
    name = _check_name(str(name_or_dir))
    d = profiles_dir() / name
    if not (d / "profile.json").is_file():
        raise ProfileError("not_found", f"no profile named {name!r} in {profiles_dir()}; learn one with "
                                        f"`secllm learn --profile {name} FILE...` (see `secllm profiles list`)")
    return SiteProfile.load(d)


def list_profiles() -> list[dict[str, Any]]:
    """One summary per profile under :func:`profiles_dir`, sorted by name (unreadable ones say so)."""
    out = []
    root = profiles_dir()
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        if not (d / "profile.json").is_file():
            continue
        try:
            doc = json.loads((d / "profile.json").read_text())
            out.append({"name": d.name, "kind": doc.get("kind"), "created": doc.get("created"),
                        "n_learn": doc.get("n_learn"), "n_calibrate": doc.get("n_calibrate"),
                        "fpr": doc.get("fpr"), "model": (doc.get("model") or {}).get("dir"), "path": str(d)})
        except (OSError, json.JSONDecodeError) as exc:
            out.append({"name": d.name, "path": str(d), "error": str(exc)})
    return out


def remove_profile(name: str) -> Path:
    """Delete a named profile directory (only a directory holding a ``profile.json``)."""
    d = profiles_dir() / _check_name(name)
    if not (d / "profile.json").is_file():
        raise ProfileError("not_found", f"no profile named {name!r} in {profiles_dir()} (see `secllm profiles list`)")
    shutil.rmtree(d)
    return d


def model_identity(model_dir: str | Path) -> dict[str, Any]:
    """What a profile records about the detector it was calibrated with (path + weights hash)."""
    d = Path(model_dir).resolve()
    h = hashlib.sha256()
    with open(d / "model.safetensors", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return {"dir": str(d), "sha256": h.hexdigest()}


# ------------------------------------------------------------------------------------------------
# Raw scores (the same code for calibration and for scoring)
# ------------------------------------------------------------------------------------------------

@dataclass
class _Raw:
    structure: float
    findings: list
    density: float | None = None
    density_part: str | None = None
    detector: float | None = None


def _density_scores(density: DensityModel, embedder: Embedder, obs: list[Observation]
                    ) -> list[tuple[float, str | None]]:
    jobs, owner = [], []
    for k, o in enumerate(obs):
        for key, text, mod in embed_jobs(o.parts, o.model_text, o.kind):
            jobs.append((key, text, mod))
            owner.append(k)
    out: list[tuple[float, str | None]] = [(0.0, None)] * len(obs)
    if not jobs:
        return out
    emb = embedder.embed([j[1] for j in jobs], [j[2] for j in jobs])          # (parts, h)
    dist = np.zeros(len(jobs))
    keys = [j[0] for j in jobs]
    for key in set(keys):
        idx = [i for i, kk in enumerate(keys) if kk == key]
        dist[idx] = density.distances(key, emb[idx])
    for i, k in enumerate(owner):
        if dist[i] > out[k][0]:
            out[k] = (float(dist[i]), keys[i])
    return out


def _raw_scores(structure: StructureModel, obs: list[Observation], density: DensityModel | None,
                embedder: Embedder | None, detector_scores: list[float | None] | None) -> list[_Raw]:
    raws = [_Raw(*structure.score(o)) for o in obs]
    if density is not None and embedder is not None:
        for r, (d, part) in zip(raws, _density_scores(density, embedder, obs)):
            r.density, r.density_part = d, part
    if detector_scores is not None:
        for r, s in zip(raws, detector_scores):
            r.detector = s
    return raws


def _detector_scores(detector: Any, obs: list[Observation], batch: int = 256) -> list[float | None]:
    out: list[float | None] = []
    for i in range(0, len(obs), batch):
        dets = detector.detect([o.model_text for o in obs[i:i + batch]], evidence=False)
        out.extend(d.score for d in dets)
    return out


# ------------------------------------------------------------------------------------------------
# Learning
# ------------------------------------------------------------------------------------------------

def _resolve_model(model_dir: str | Path | None, use_model: bool) -> Path | None:
    if not use_model:
        return None
    d = Path(model_dir) if model_dir else DEFAULT_MODEL_DIR
    if not (d / "secllm.json").is_file():
        if model_dir:
            raise ProfileError("not_found", f"{d} is not a secllm model directory; pass --model DIR of a "
                                            "fine-tuned detector")
        return None
    return d


def learn_profile(items: list[str], name: str, out_dir: str | Path | None = None,
                  model_dir: str | Path | None = None, calibrate_fraction: float = 0.2, fpr: float = 0.01,
                  *, fmt: str = "auto", combine: str = "max", calibration_items: list[str] | None = None,
                  use_model: bool = True, use_density: bool = True, detector: Any = None,
                  embedder: Embedder | None = None, overwrite: bool = True,
                  sequence_models: tuple[str, ...] = DEFAULT_CANDIDATES,
                  input_options: dict[str, Any] | None = None) -> SiteProfile:
    """Learn a profile from normal traffic and save it (default ``profiles_dir()/name``).

    ``items``: raw HTTP requests, URLs or access-log lines (``fmt`` ``auto``/``http``/``url``/
    ``access-log``), log lines (``fmt`` ``log``), or event sequences (``fmt`` ``sessions`` /
    ``strace`` / ``syscalls``: lists of events or blank-separated strings; the language model is chosen
    among ``sequence_models`` on the held-back ones, ``input_options`` is recorded so that scoring
    reads files the same way), in time order.
    The first ``1 - calibrate_fraction`` are learned, the rest set the thresholds at ``fpr``
    (or pass ``calibration_items`` to calibrate on those and learn on all of ``items``).
    ``model_dir``: fine-tuned detector for the density model and the combined score (default
    the shipped one when present; ``use_model=False`` for structure only). Raises
    :class:`ProfileError` for empty, tiny (< 20 usable items) or unusable learning sets.
    """
    _check_name(name)
    if not 0.0 < fpr < 1.0:
        raise ProfileError("bad_argument", f"fpr must be between 0 and 1, got {fpr}")
    if combine not in COMBINE_RULES:
        raise ProfileError("bad_argument", f"combine must be one of {COMBINE_RULES}, got {combine!r}")
    if not 0.0 < calibrate_fraction < 1.0 and calibration_items is None:
        raise ProfileError("bad_argument", f"calibrate_fraction must be between 0 and 1, got {calibrate_fraction}")
    t0 = time.perf_counter()
    items = list(items)
    if fmt in SEQUENCE_FORMATS:
        prof = _learn_sequence(items, name, calibrate_fraction, fpr, fmt, calibration_items, sequence_models,
                               input_options or {})
        prof.meta["learn_seconds"] = round(time.perf_counter() - t0, 3)
        return _store(prof, name, out_dir, overwrite)
    if not items or not any(isinstance(x, str) and x.strip() for x in items):
        raise ProfileError("empty", "the learning set is empty: give the site's normal traffic (raw requests, "
                                    "URLs, access-log lines or log lines), at least a few hundred items")
    if fmt in LOG_FORMATS:
        prof = _learn_log(items, name, calibrate_fraction, fpr, fmt, calibration_items)
    elif fmt in WEB_FORMATS:
        prof = _learn_web(items, name, model_dir, calibrate_fraction, fpr, fmt, combine, calibration_items,
                          use_model, use_density, detector, embedder)
    else:
        raise ProfileError("bad_argument", f"unknown format {fmt!r}; expected one of "
                                           f"{WEB_FORMATS + LOG_FORMATS + SEQUENCE_FORMATS}")
    prof.meta["learn_seconds"] = round(time.perf_counter() - t0, 3)
    return _store(prof, name, out_dir, overwrite)


def _store(prof: SiteProfile, name: str, out_dir: str | Path | None, overwrite: bool) -> SiteProfile:
    if not out_dir:
        private_dir(profiles_dir())       # the folder of every profile: 0700 too
    out = Path(out_dir) if out_dir else profiles_dir() / name
    if (out / "profile.json").exists() and not overwrite:
        raise ProfileError("exists", f"profile {out} exists; remove it first (`secllm profiles remove {name}`) "
                                     "or pass --force")
    if out.exists() and (out / "profile.json").exists():
        shutil.rmtree(out)                    # no stale arrays from an older profile
    prof.save(out)
    return prof


def _split(n: int, calibrate_fraction: float) -> int:
    """Number of learning items (the rest calibrates); both sides get at least a few."""
    n_cal = max(4, int(round(n * calibrate_fraction)))
    return max(1, n - n_cal)


def _too_small(n: int, what: str) -> ProfileError:
    return ProfileError("too_small", f"only {n} usable {what} in the learning set; a profile needs at least "
                                     f"{MIN_ITEMS} (a few hundred to thousands give useful thresholds)")


def _learn_web(items, name, model_dir, calibrate_fraction, fpr, fmt, combine, calibration_items,
               use_model, use_density, detector, embedder) -> SiteProfile:
    parsed = [(x, parse_observation(x, fmt)) for x in items]
    good = [o for _, o in parsed if o is not None]
    bad = [x for x, o in parsed if o is None]
    if not good:
        example = next((x for x in bad if isinstance(x, str) and x.strip()), "")
        raise ProfileError("malformed", f"none of the {len(items)} items is a raw HTTP request, URL or access-log "
                                        f"line (first: {example[:60]!r}); check --format "
                                        f"(auto|http|access-log|urls|jsonl|log)")
    if calibration_items is not None:
        learn = good
        cal = [o for o in (parse_observation(x, fmt) for x in calibration_items) if o is not None]
    else:
        if len(good) < MIN_ITEMS:
            raise _too_small(len(good), "requests")
        k = _split(len(good), calibrate_fraction)
        learn, cal = good[:k], good[k:]
    if len(learn) + len(cal) < MIN_ITEMS or not learn or not cal:
        raise _too_small(len(learn) + len(cal), "requests")
    notes = []
    if bad:
        notes.append(f"{len(bad)} of {len(items)} items were not requests/URLs/access-log lines and were skipped")
    structure = StructureModel().fit(learn)
    mdir = _resolve_model(model_dir, use_model) if detector is None else Path(detector.model_dir)
    if mdir is None and use_model:
        notes.append(f"no fine-tuned detector (none at {DEFAULT_MODEL_DIR}): structure model only; "
                     "pass --model DIR for the density model and the combined score")
    density = None
    model_meta = None
    det_cal = None
    if mdir is not None:
        if detector is None:
            from secllm.detect.detector import WebAttackDetector

            detector = WebAttackDetector.load(mdir)
        model_meta = model_identity(mdir)
        det_cal = _detector_scores(detector, cal)
        if use_density:
            embedder = embedder or Embedder.from_detector(detector) or Embedder.load(mdir)
            by_key: dict[str, list[int]] = {}
            jobs = []
            for o in learn:
                for key, text, mod in embed_jobs(o.parts, o.model_text, o.kind):
                    by_key.setdefault(key, []).append(len(jobs))
                    jobs.append((text, mod))
            emb = embedder.embed([j[0] for j in jobs], [j[1] for j in jobs])
            if len(jobs) >= 2:
                density = DensityModel.fit({k: emb[idx] for k, idx in by_key.items()})
    raws = _raw_scores(structure, cal, density, embedder if density is not None else None, det_cal)
    cals = {"structure": TailCalibrator.fit([r.structure for r in raws])}
    if density is not None:
        cals["density"] = TailCalibrator.fit([r.density for r in raws])
    if det_cal is not None:
        cals["detector"] = TailCalibrator.fit([s if s is not None else 0.0 for s in det_cal])
    prof = SiteProfile(name, "web", {}, structure=structure, density=density, calibrators=cals)
    ps = [_pvalues(prof, r) for r in raws]
    prof.thresholds = {"deviation": threshold_at_fpr([p[0] for p in ps], fpr),
                       "combined": threshold_at_fpr([p[1] for p in ps], fpr)}
    if len(cal) * fpr < 1:
        notes.append(f"{len(cal)} calibration requests cannot resolve an FPR of {fpr}: the threshold is the "
                     f"most unusual calibration request (more normal traffic gives a tighter threshold)")
    prof.meta = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n_items": len(items), "n_learn": len(learn),
                 "n_calibrate": len(cal), "n_skipped": len(bad), "fpr": fpr, "combine": combine, "input_format": fmt,
                 "model": model_meta, "notes": notes}
    return prof


def _pvalues(prof: SiteProfile, r: _Raw) -> tuple[float, float]:
    """``(deviation p, combined p)`` of one item's raw scores."""
    dev = [prof.calibrators["structure"].pvalue(r.structure)]
    if r.density is not None and "density" in prof.calibrators:
        dev.append(prof.calibrators["density"].pvalue(r.density))
    allp = list(dev)
    if r.detector is not None and "detector" in prof.calibrators:
        allp.append(prof.calibrators["detector"].pvalue(r.detector))
    return combine_pvalues(dev, prof.combine), combine_pvalues(allp, prof.combine)


def _learn_log(items, name, calibrate_fraction, fpr, fmt, calibration_items) -> SiteProfile:
    good = [x for x in items if isinstance(x, str) and x.strip()]
    if calibration_items is not None:
        learn, cal = good, [x for x in calibration_items if isinstance(x, str) and x.strip()]
    else:
        if len(good) < MIN_ITEMS:
            raise _too_small(len(good), "log lines" if fmt == "log" else "sessions")
        k = _split(len(good), calibrate_fraction)
        learn, cal = good[:k], good[k:]
    if not learn or not cal:
        raise _too_small(len(learn) + len(cal), "log items")
    if fmt == "log":
        model = LogModel.fit_lines(learn)
    else:
        model = LogModel.fit_sessions([split_session(x) for x in learn])
    cal_scores = [model.score(x)[0] for x in cal]
    prof = SiteProfile(name, "log", {}, log_model=model, calibrators={"log": TailCalibrator.fit(cal_scores)})
    ps = [prof.calibrators["log"].pvalue(s) for s in cal_scores]
    t = threshold_at_fpr(ps, fpr)
    prof.thresholds = {"deviation": t, "combined": t}
    prof.meta = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n_items": len(items), "n_learn": len(learn),
                 "n_calibrate": len(cal), "n_skipped": len(items) - len(good), "fpr": fpr, "combine": "max",
                 "input_format": fmt, "model": None, "notes": []}
    return prof


def _as_events(x: Any) -> list[str] | None:
    """A sequence item as its events: a list as is, a string split like a session; None if empty."""
    if isinstance(x, (list, tuple)):
        ev = [str(e) for e in x]
    elif isinstance(x, str):
        ev = split_session(x)
    else:
        return None
    return ev or None


def _learn_sequence(items, name, calibrate_fraction, fpr, fmt, calibration_items, candidates,
                    input_options) -> SiteProfile:
    good = [e for e in map(_as_events, items) if e is not None]
    if calibration_items is not None:
        learn, cal = good, [e for e in map(_as_events, calibration_items) if e is not None]
    else:
        if len(good) < MIN_ITEMS:
            raise _too_small(len(good), "sequences")
        k = _split(len(good), calibrate_fraction)
        learn, cal = good[:k], good[k:]
    if not learn or not cal:
        raise _too_small(len(learn) + len(cal), "sequences")
    try:
        model = SequenceModel(candidates=candidates).fit(learn, cal)
    except ValueError as exc:
        raise ProfileError("bad_argument", str(exc)) from exc
    cal_p = [r.p for r in model.score(cal, evidence=0)]
    t = threshold_at_fpr(cal_p, fpr)
    prof = SiteProfile(name, "sequence", {}, sequence=model)
    prof.thresholds = {"deviation": t, "combined": t}
    notes = []
    if len(cal) * fpr < 1:
        notes.append(f"{len(cal)} held-back sequences cannot resolve an FPR of {fpr}: the threshold is the most "
                     "unusual held-back sequence (more normal sequences give a tighter threshold)")
    prof.meta = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "n_items": len(items), "n_learn": len(learn),
                 "n_calibrate": len(cal), "n_skipped": len(items) - len(good), "fpr": fpr, "combine": model.combine,
                 "input_format": fmt, "input_options": input_options, "model": None,
                 "sequence_model": model.model_name_, "why": model.why, "notes": notes}
    return prof


# ------------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------------

class ProfileScorer:
    """Score items against a profile (and, when the profile was calibrated with one, the detector).

        >>> scorer = ProfileScorer.load("shop")                                  # doctest: +SKIP
        >>> scorer.score(["/item?id=1%27%20or%201=1"])[0].evidence               # doctest: +SKIP
        ['parameter `id` is numeric in 100% of learned requests; here it holds a quoted string']
    """

    def __init__(self, profile: SiteProfile, detector: Any = None, embedder: Embedder | None = None,
                 fmt: str = "auto"):
        self.profile = profile
        self.detector = detector
        self.fmt = fmt if profile.kind == "web" else profile.meta.get("input_format", "log")
        self.embedder = embedder
        if profile.density is not None and embedder is None and detector is not None:
            self.embedder = Embedder.from_detector(detector)

    @classmethod
    def load(cls, name_or_dir: str | Path, model_dir: str | Path | None = None, detector: Any = None
             ) -> "ProfileScorer":
        """Load a profile and the detector it was calibrated with (``model_dir`` overrides the
        recorded path; the weights must be the same)."""
        prof = load_profile(name_or_dir)
        if prof.model is not None:
            if detector is None:
                from secllm.detect.detector import WebAttackDetector

                d = Path(model_dir) if model_dir else Path(prof.model["dir"])
                if not (d / "secllm.json").is_file():
                    raise ProfileError("model_mismatch", f"profile {prof.name!r} was calibrated with the detector in "
                                                         f"{prof.model['dir']}, which is gone; pass --model DIR with "
                                                         "the same weights, or relearn the profile")
                detector = WebAttackDetector.load(d)
            check_model(prof, detector.model_dir)
        return cls(prof, detector)

    def score(self, items: list[str], ids: list[str] | None = None,
              detector_scores: list[float | None] | None = None) -> list[ProfileResult]:
        """One :class:`ProfileResult` per item, in order. ``detector_scores`` (P(attack) per item,
        e.g. from a detection already run) saves running the detector again."""
        ids = ids or [str(i) for i in range(len(items))]
        if self.profile.kind == "sequence":
            return self._score_sequences(ids, items)
        if self.profile.kind == "log":
            return [self._score_log(i, x) for i, x in zip(ids, items)]
        results = [ProfileResult(id=i) for i in ids]
        obs: list[Observation] = []
        where: list[int] = []
        for k, x in enumerate(items):
            o = parse_observation(x, self.fmt) if isinstance(x, str) else None
            if o is None:
                results[k].status = "bad_input"
                results[k].error = "not a raw HTTP request, URL or access-log line: the site profile does not apply"
                continue
            obs.append(o)
            where.append(k)
        det = None
        if "detector" in self.profile.calibrators:
            if detector_scores is not None:
                det = [detector_scores[k] for k in where]
            elif self.detector is not None:
                det = _detector_scores(self.detector, obs)
        raws = _raw_scores(self.profile.structure, obs, self.profile.density,
                           self.embedder if self.profile.density is not None else None, det)
        for k, o, r in zip(where, obs, raws):
            self._fill(results[k], o, r)
        return results

    def _fill(self, res: ProfileResult, o: Observation, r: _Raw) -> None:
        prof = self.profile
        dev_p, comb_p = _pvalues(prof, r)
        res.endpoint, res.deviation, res.density, res.detector_score = o.endpoint, r.structure, r.density, r.detector
        res.deviation_p, res.combined_p, res.score = dev_p, comb_p, 1.0 - comb_p
        res.deviation_verdict = "anomalous" if dev_p < prof.thresholds["deviation"] else "normal"
        res.verdict = "anomalous" if comb_p < prof.thresholds["combined"] else "normal"
        ev = [f.text for f in r.findings if f.score >= EVIDENCE_MIN][:MAX_EVIDENCE]
        if not ev and res.verdict == "anomalous" and r.findings and r.findings[0].score > 0.05:
            ev = [r.findings[0].text]
        if r.density is not None and r.density > 1.0 and prof.calibrators["density"].pvalue(r.density) < 0.05:
            from secllm.profile.structure import param_label

            what = "the request target" if r.density_part == "url" else param_label(r.density_part or "")
            ev.append(f"{what} is unlike the learned traffic to the encoder (distance {r.density:.1f}× the "
                      f"learned 99th percentile)")
        if r.detector is not None and "detector" in prof.calibrators:
            p = prof.calibrators["detector"].pvalue(r.detector)
            if p < 0.05:
                ev.append(f"generic attack detector: P(attack) = {r.detector:.3f}, higher than "
                          f"{_pct_above(p)} of this site's normal requests")
        res.evidence = ev

    def _score_sequences(self, ids: list[str], items: list[Any]) -> list[ProfileResult]:
        model = self.profile.sequence
        results = [ProfileResult(id=i) for i in ids]
        events = [_as_events(x) for x in items]
        where = [k for k, e in enumerate(events) if e is not None]
        for k, e in enumerate(events):
            if e is None:
                results[k].status, results[k].error = "bad_input", "empty sequence (no events)"
        scored = model.score([events[k] for k in where]) if where else []
        t = self.profile.thresholds["deviation"]
        for k, r in zip(where, scored):
            res = results[k]
            res.deviation, res.deviation_p, res.combined_p, res.score = r.score, r.p, r.p, 1.0 - r.p
            res.deviation_verdict = res.verdict = "anomalous" if r.p < t else "normal"
            res.evidence = model.describe(r) if res.verdict == "anomalous" else model.describe(r, 1)[:1]
            res.sequence = {"events": r.n_events, "features": r.features, "windows": r.windows}
        return results

    def _score_log(self, rid: str, item: str) -> ProfileResult:
        res = ProfileResult(id=rid)
        if not isinstance(item, str) or not item.strip():
            res.status, res.error = "bad_input", "empty log item"
            return res
        s, ev = self.profile.log_model.score(item)
        p = self.profile.calibrators["log"].pvalue(s)
        res.deviation, res.deviation_p, res.combined_p, res.score = s, p, p, 1.0 - p
        res.deviation_verdict = res.verdict = "anomalous" if p < self.profile.thresholds["deviation"] else "normal"
        res.evidence = ev[:MAX_EVIDENCE]
        return res


def _pct_above(p: float) -> str:
    return f"{100 * (1 - p):.1f}%" if p > 1e-3 else "all"


def check_model(prof: SiteProfile, model_dir: str | Path) -> None:
    """Refuse to combine a profile with a detector other than the one it was calibrated with."""
    if prof.model is None:
        return
    have = model_identity(model_dir)
    if have["sha256"] != prof.model["sha256"]:
        raise ProfileError("model_mismatch", f"profile {prof.name!r} was calibrated with the detector in "
                                             f"{prof.model['dir']} (different weights from {have['dir']}); use "
                                             "that model (--model) or relearn the profile with this one")
