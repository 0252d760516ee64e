"""Adapters for the public datasets in ``shared/datasets``: each returns ``Record``s with a fixed split.

Every adapter applies the split rule of the datasets README *before* anything is fitted, and writes
the split into ``record.meta["split"]`` ("train" / "val" / "test"). The pretraining corpus, the
tokenizer and every fine-tune read the same assignment, so a test row never reaches pretraining.

    >>> recs = http_params(datasets_dir())            # doctest: +SKIP
    >>> sorted({r.meta["split"] for r in recs})       # doctest: +SKIP
    ['test', 'train', 'val']
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path

from secllm.data.records import Record
from secllm.data.split import dedupe, group_split, stratified_split, time_split

# Attack categories of the web-attack task. FuzzDB categories outside this set are folded into
# the closest one (documented in WEB_CATEGORY_MAP) or dropped when there is no honest mapping.
WEB_LABELS = (
    "benign",
    "sqli",
    "xss",
    "cmdi",
    "path-traversal",
    "rfi",
    "ldap-injection",
    "xpath-injection",
    "nosqli",
    "xxe",
    "ssi",
    "open-redirect",
    "format-string",
)

WEB_CATEGORY_MAP = {
    "sqli": "sqli",
    "xss": "xss",
    "cmdi": "cmdi",
    "path-traversal": "path-traversal",
    "rfi": "rfi",
    "ldap-injection": "ldap-injection",
    "xpath-injection": "xpath-injection",
    "nosqli": "nosqli",
    "xxe": "xxe",
    "ssi": "ssi",
    "open-redirect": "open-redirect",
    "format-string": "format-string",
    # "mixed", "json-fuzz", "integer-overflow", "source-disclosure": no single attack type; they
    # go to the pretraining corpus only.
}


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8", errors="replace", newline="")


def _assign(records: list[Record], splits: list[str]) -> list[Record]:
    for r, s in zip(records, splits):
        r.meta["split"] = s
    return records


# --------------------------------------------------------------------------------------------
# web
# --------------------------------------------------------------------------------------------

def http_params(root: Path) -> list[Record]:
    """HttpParams: the author's train/test; validation = stratified 10% of train (seed 0)."""
    out: list[Record] = []
    for part in ("train", "test"):
        with _open_text(root / "http_params" / f"payload_{part}.csv.gz") as f:
            rows = list(csv.DictReader(f))
        recs = [
            Record(
                id=f"http_params:{part}:{i}",
                modality="payload",
                text=row["payload"],
                label="benign" if row["attack_type"] == "norm" else row["attack_type"],
                source="http_params",
            )
            for i, row in enumerate(rows)
        ]
        if part == "train":
            sub = stratified_split([r.label for r in recs], fractions=(0.9, 0.1, 0.0), seed=0)
            _assign(recs, sub)
        else:
            _assign(recs, ["test"] * len(recs))
        out.extend(recs)
    return out


_BOOK_FILES = {
    "normal-10000.txt.gz": "benign",
    "good-xss-200000.txt.gz": "benign",
    "sql-10000.txt.gz": "sqli",
    "xss-200000.txt.gz": "xss",
}


def web_urls_1book(root: Path, *, max_good_xss: int | None = 30_000) -> list[Record]:
    """1book URLs: dedupe, then stratified 80/10/10 (seed 0).

    ``good-xss-200000`` holds 135k benign paths; ``max_good_xss`` keeps a seeded random subset
    (taken before the split, so the split stays a function of the kept rows only).
    """
    import random

    out: list[Record] = []
    for fname, label in _BOOK_FILES.items():
        with _open_text(root / "web_attack_urls_1book" / fname) as f:
            lines = dedupe([ln.rstrip("\r\n") for ln in f if ln.strip()])
        if fname.startswith("good-xss") and max_good_xss and len(lines) > max_good_xss:
            lines = random.Random(0).sample(lines, max_good_xss)
        out.extend(
            Record(id=f"1book:{fname.split('.')[0]}:{i}", modality="url", text=t, label=label,
                   source=f"1book:{fname.split('.')[0]}")
            for i, t in enumerate(lines)
        )
    return _assign(out, stratified_split([r.label for r in out], seed=0))


def fuzzdb(root: Path) -> list[Record]:
    """FuzzDB attack lists (attack-only): stratified 80/10/10 by category (seed 0)."""
    with _open_text(root / "attack_payload_lists" / "fuzzdb_attack_payloads.csv.gz") as f:
        rows = list(csv.DictReader(f))
    recs = [
        Record(id=f"fuzzdb:{i}", modality="payload", text=row["payload"],
               label=WEB_CATEGORY_MAP.get(row["category"]), source="fuzzdb",
               meta={"category": row["category"], "source_file": row["source_file"]})
        for i, row in enumerate(rows)
    ]
    return _assign(recs, stratified_split([r.meta["category"] for r in recs], seed=0))


def fwaf_badqueries(root: Path) -> list[Record]:
    """fwaf bad queries (malicious, type unknown): dedupe, random 80/10/10 (seed 0)."""
    with _open_text(root / "attack_payload_lists" / "fwaf_badqueries.txt.gz") as f:
        lines = dedupe([ln.rstrip("\r\n") for ln in f if ln.strip()])
    recs = [Record(id=f"fwaf:{i}", modality="url", text=t, label="malicious", source="fwaf")
            for i, t in enumerate(lines)]
    return _assign(recs, stratified_split(["m"] * len(recs), seed=0))


# --------------------------------------------------------------------------------------------
# other modalities (pretraining corpus now; their tasks reuse the same assignment)
# --------------------------------------------------------------------------------------------

_CC_SLD = {"co", "com", "net", "org", "gov", "edu", "ac", "or", "ne", "go"}


def registered_domain(url: str) -> str:
    """Cheap registered-domain key for group splits (``a.b.example.co.uk`` → ``example.co.uk``)."""
    from urllib.parse import urlsplit

    u = url if "://" in url else "http://" + url
    try:
        host = (urlsplit(u).hostname or "").rstrip(".")
    except ValueError:
        host = ""
    labels = [x for x in host.split(".") if x]
    if not labels:
        return url[:50]
    if all(x.isdigit() for x in labels):
        return host
    if len(labels) >= 3 and labels[-2] in _CC_SLD and len(labels[-1]) == 2:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


def url_iscx2016(root: Path) -> list[Record]:
    """ISCX-URL-2016: dedupe, group split by registered domain 80/10/10 (seed 0)."""
    with _open_text(root / "url_iscx2016" / "iscx_url2016_4class.csv.gz") as f:
        rows = dedupe(list(csv.DictReader(f)), key=lambda r: r["url"])
    recs = [Record(id=f"iscx:{i}", modality="url", text=r["url"], label=r["label"],
                   source="iscx2016", group=registered_domain(r["url"]))
            for i, r in enumerate(rows)]
    return _assign(recs, group_split([r.group for r in recs], seed=0))


LOG_SYSTEMS = ("Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac",
               "OpenSSH", "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper")


def loghub(root: Path) -> list[Record]:
    """Loghub 2k logs: chronological 70/0/30 per system; BGL's label token is stripped into ``label``."""
    out: list[Record] = []
    for system in LOG_SYSTEMS:
        p = root / "loghub_2k" / f"{system}_2k.log.gz"
        if not p.exists():
            continue
        with _open_text(p) as f:
            lines = [ln.rstrip("\r\n") for ln in f if ln.strip()]
        recs = []
        for i, ln in enumerate(lines):
            label = None
            if system == "BGL":
                tag, _, ln = ln.partition(" ")
                label = "normal" if tag == "-" else "alert"
            recs.append(Record(id=f"loghub:{system}:{i}", modality="log", text=ln, label=label,
                               source=f"loghub:{system}", time=float(i)))
        out.extend(_assign(recs, time_split([r.time for r in recs], fractions=(0.7, 0.0, 0.3))))
    return out


def hdfs_deeplog(root: Path) -> list[Record]:
    """HDFS sessions: unique sequences; normal 80/0/20 held back (seed 0), abnormal 80/10/10."""
    out: list[Record] = []
    for fname, label, fr in (("hdfs_train.txt.gz", "normal", (0.8, 0.0, 0.2)),
                             ("hdfs_test_abnormal.txt.gz", "anomaly", (0.8, 0.1, 0.1))):
        with _open_text(root / "hdfs_deeplog" / fname) as f:
            seqs = dedupe([" ".join(f"e{t}" for t in ln.split()) for ln in f if ln.strip()])
        recs = [Record(id=f"hdfs:{label}:{i}", modality="log", text=s, label=label, source="hdfs")
                for i, s in enumerate(seqs)]
        out.extend(_assign(recs, stratified_split([label] * len(recs), fractions=fr, seed=0)))
    return out


def _idx_images(path: Path) -> list[bytes]:
    raw = gzip.open(path, "rb").read()
    n = int.from_bytes(raw[4:8], "big")
    rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
    size = rows * cols
    return [raw[16 + i * size: 16 + (i + 1) * size] for i in range(n)]


def _idx_labels(path: Path) -> list[int]:
    raw = gzip.open(path, "rb").read()
    return list(raw[8:])


def hexify(data: bytes) -> str:
    """Packet bytes as the tokenizer reads them: lower-case hex pairs separated by spaces."""
    return data.hex(" ")


def ustc_tfc2016(root: Path) -> list[Record]:
    """USTC-TFC2016 20-class session L7 bytes: drop zero padding, dedupe, stratified 80/10/10."""
    d = root / "traffic_ustc_tfc2016"
    imgs = _idx_images(d / "20class_SessionL7_test-images-idx3-ubyte.gz")
    labels = _idx_labels(d / "20class_SessionL7_test-labels-idx1-ubyte.gz")
    names = {}
    cpath = d / "classes.csv"
    if cpath.exists():
        with open(cpath, newline="") as f:
            for row in csv.DictReader(f):
                names[int(row["label_20class"])] = row["name"]
    pairs = dedupe(list(zip(imgs, labels)), key=lambda p: p[0])
    # identical images with different labels are dropped entirely (label noise)
    by_img: dict[bytes, set[int]] = {}
    for img, lab in zip(imgs, labels):
        by_img.setdefault(img, set()).add(lab)
    pairs = [(img, lab) for img, lab in pairs if len(by_img[img]) == 1]
    recs = []
    for i, (img, lab) in enumerate(pairs):
        data = img.rstrip(b"\x00")
        recs.append(Record(id=f"ustc:{i}", modality="flow", text=hexify(data), data=data,
                           label=names.get(lab, str(lab)), source="ustc_tfc2016"))
    return _assign(recs, stratified_split([r.label for r in recs], seed=0))


def powershell_mpsd(root: Path) -> list[Record]:
    """MPSD PowerShell: dedupe on sha256, drop hashes in both classes, stratified 80/10/10."""
    rows = _jsonl(root / "powershell_mpsd" / "mpsd_powershell.jsonl.gz")
    labels_by_hash: dict[str, set[str]] = {}
    for r in rows:
        labels_by_hash.setdefault(r["sha256"], set()).add(r["label"])
    rows = dedupe([r for r in rows if len(labels_by_hash[r["sha256"]]) == 1], key=lambda r: r["sha256"])
    recs = [Record(id=f"mpsd:{r['sha256'][:16]}", modality="script", text=r["text"], label=r["label"],
                   source="mpsd", meta={"lang": "powershell", "file": r["file"]}) for r in rows]
    return _assign(recs, stratified_split([r.label for r in recs], seed=0))


def js_malicious(root: Path) -> list[Record]:
    """Malicious JS/HTML (positives only): stratified by family 80/10/10."""
    rows = dedupe(_jsonl(root / "js_malicious_geeksonsecurity" / "js_malicious.jsonl.gz"),
                  key=lambda r: r["sha256"])
    recs = [Record(id=f"jsmal:{r['sha256'][:16]}", modality="script", text=r["text"], label="malicious",
                   source="js_malicious", meta={"lang": r["kind"], "family": r["family"]}) for r in rows]
    return _assign(recs, stratified_split([r.meta["family"] for r in recs], seed=0))


def evtx_attack(root: Path) -> list[Record]:
    """EVTX attack samples: group split by source file 80/10/10 (seed 0)."""
    rows = _jsonl(root / "evtx_attack_samples" / "evtx_attack_samples.jsonl.gz")
    recs = [Record(id=f"evtx:{i}", modality="evtx", text=r["xml"], label=r["tactic"], source="evtx",
                   group=r["file"], meta={"event_id": r.get("event_id")}) for i, r in enumerate(rows)]
    return _assign(recs, group_split([r.group for r in recs], seed=0))


def tram(root: Path) -> list[Record]:
    """TRAM single-label sentences: group split by report (doc_title) 80/10/10 (seed 0)."""
    rows = json.load(gzip.open(root / "tram_attack" / "tram2_single_label.json.gz", "rt", encoding="utf-8"))
    recs = [Record(id=f"tram:{i}", modality="cti", text=r["text"], label=r["label"], source="tram",
                   group=r["doc_title"]) for i, r in enumerate(rows)]
    return _assign(recs, group_split([r.group for r in recs], seed=0))


def _jsonl(path: Path) -> list[dict]:
    out = []
    with _open_text(path) as f:
        for ln in f:
            ln = ln.strip()
            if ln:
                out.append(json.loads(ln))
    return out


# --------------------------------------------------------------------------------------------

ALL_SOURCES = {
    "http_params": http_params,
    "1book": web_urls_1book,
    "fuzzdb": fuzzdb,
    "fwaf": fwaf_badqueries,
    "iscx2016": url_iscx2016,
    "loghub": loghub,
    "hdfs": hdfs_deeplog,
    "ustc_tfc2016": ustc_tfc2016,
    "mpsd": powershell_mpsd,
    "js_malicious": js_malicious,
    "evtx": evtx_attack,
    "tram": tram,
}


def load_sources(root: Path, names: list[str] | None = None) -> Iterator[tuple[str, list[Record]]]:
    """Yield ``(name, records)`` for each available source; a missing file skips that source.

    An unknown name in ``names`` is a ``ValueError`` (before anything is read): a typo must not
    silently build a corpus without the source that was asked for.
    """
    unknown = sorted(set(names or ()) - set(ALL_SOURCES))
    if unknown:
        raise ValueError(f"unknown source {', '.join(map(repr, unknown))}; known: {', '.join(ALL_SOURCES)}")
    for name, fn in ALL_SOURCES.items():
        if names is not None and name not in names:
            continue
        try:
            yield name, fn(Path(root))
        except FileNotFoundError:
            continue
