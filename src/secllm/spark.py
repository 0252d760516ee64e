"""Scan on Apache Spark: the detectors of ``secllm scan`` judging partitions on a cluster's executors.

``secllm scan`` judges on one machine (``--workers N`` processes). Past one machine this module
runs the same reading and judging code on Spark executors: the files are listed as Spark lists
paths (directories, globs; ``file:``, ``hdfs:``, ``s3a:`` URIs as the cluster's Hadoop is set up
for), each file is read into items by :func:`secllm.scan.iter_scan_items`, items are spread over
partitions, and each partition is judged in batches by :func:`secllm.scan.judge_items` with the
detector its Python worker loaded once (a module-level cache: a reused worker never loads twice).
Findings are the same dicts ``scan --out x.jsonl`` writes; an item that cannot be read is a row
with ``status: corrupt`` and its error, never a failed job.

    >>> from secllm.spark import DetectorSpec, spark_scan          # doctest: +SKIP
    >>> summary = spark_scan(["logs/"], DetectorSpec(), "findings.jsonl", master="local[2]")  # doctest: +SKIP
    >>> summary.verdicts                                            # doctest: +SKIP
    Counter({'benign': 98211, 'malicious': 377, 'corrupt': 2})

With a Spark session of your own: ``items_dataframe(spark, paths)`` reads, and
``scan_dataframe(items, DetectorSpec())`` judges any DataFrame with an ``id`` and a ``text``
column (other item columns optional) into a DataFrame of findings.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from secllm.scan import ScanItem, ScanSummary, file_kind, iter_scan_items, judge_items, make_finding

# one item: what secllm.scan.ScanItem holds (meta as a JSON object; kind as three columns)
ITEM_SCHEMA = ("id string, text string, file string, line long, source string, meta string, error string, "
               "invalid_utf8 boolean, user_agent string, kind string, family string, confidence double")
# one judged (or unreadable) item; `finding` is the JSONL line of `scan --out`, set when it is written
FINDING_SCHEMA = ("id string, file string, line long, source string, verdict string, status string, label string, "
                  "score double, attack_type string, input_kind string, task string, error string, "
                  "written boolean, finding string")
# the Parquet output: the finding's fields; nested ones (lists, objects) as JSON text
PARQUET_SCALARS = {"id": "string", "file": "string", "line": "long", "source": "string", "label": "string",
                   "score": "double", "attack_type": "string", "part": "string", "status": "string",
                   "error": "string", "kind": "string", "input_kind": "string", "task": "string",
                   "method": "string", "http_status": "long", "time": "string", "target": "string",
                   "text": "string", "text_truncated": "boolean"}
PARQUET_JSON = ("evidence", "warnings", "signatures", "attack_types", "details", "knowledge")


def java_available() -> bool:
    """Spark's driver is a JVM: ``java`` on PATH or ``JAVA_HOME`` set."""
    return bool(os.environ.get("JAVA_HOME") or shutil.which("java"))


@dataclass(frozen=True)
class DetectorSpec:
    """How each executor loads its detector (the options of ``secllm scan``); hashable, so one
    Python worker keeps one loaded detector per spec.

        >>> DetectorSpec(backend="onnx-int8").threads
        1
    """

    model_dir: str | None = None         # None: the shipped model
    backend: str = "auto"
    threads: int = 1                     # model threads per task: Spark's cores are the parallelism
    cascade: bool = True
    signatures: bool = True
    routed: bool = False                 # identify each item, judge by kind (secllm.detect.route.Router)
    tasks_dir: str | None = None

    def load(self) -> Any:
        from secllm.detect.detector import WebAttackDetector
        from secllm.paths import DEFAULT_MODEL_DIR
        from secllm.runtime import resolve_backend

        d = Path(self.model_dir) if self.model_dir else DEFAULT_MODEL_DIR
        det = WebAttackDetector.load(d, threads=self.threads, backend=resolve_backend(d, self.backend))
        det.cascade = self.cascade
        det.signatures = self.signatures
        if not self.routed:
            return det
        from secllm.detect.route import Router

        return Router(self.model_dir, self.tasks_dir, backend=self.backend, threads=self.threads, web=det)


_LOADED: dict[DetectorSpec, Any] = {}


def executor_detector(spec: DetectorSpec, loads: Any = None) -> Any:
    """The detector of this Python process for ``spec``, loaded on first use (``loads``: a Spark
    accumulator counting real loads, so a run can show one load per worker, not per row)."""
    det = _LOADED.get(spec)
    if det is None:
        det = _LOADED[spec] = spec.load()
        if loads is not None:
            loads.add(1)
    return det


# ------------------------------------------------------------------------------------------------
# Reading: files -> item rows
# ------------------------------------------------------------------------------------------------

def _item_row(it: ScanItem) -> tuple:
    kind, family, conf = it.kind if it.kind is not None else (None, None, None)
    return (it.id, it.text, it.file, it.line, it.source, json.dumps(it.meta, ensure_ascii=False) if it.meta else None,
            it.error, it.invalid_utf8, it.user_agent, kind, family, conf)


def _row_item(row: Any) -> ScanItem:
    d = row.asDict() if hasattr(row, "asDict") else dict(row)
    kind = (d["kind"], d.get("family"), float(d.get("confidence") or 1.0)) if d.get("kind") else None
    return ScanItem(str(d["id"]), d.get("text") or "", d.get("file") or "", d.get("line"), d.get("source"),
                    json.loads(d["meta"]) if d.get("meta") else {}, d.get("error"), bool(d.get("invalid_utf8")),
                    d.get("user_agent"), kind)


def _local_path(uri: str) -> str | None:
    u = urlparse(uri)
    if u.scheme in ("", "file"):
        return unquote(u.path) if u.scheme else uri
    return None


def _file_items(path: str, fmt: str, text_field: str | None, ip_key: bytes, raw_ips: bool,
                spec: DetectorSpec, loads: Any = None) -> Iterator[tuple]:
    """The item rows of one local file, as ``scan`` reads it (file-level kind for a routed scan)."""
    from secllm.scan import IpPseudonymizer

    pseudonym = IpPseudonymizer(ip_key, raw=raw_ips)
    fkind = file_kind(path, fmt, executor_detector(spec, loads)) if spec.routed else None
    try:
        for it in iter_scan_items(path, fmt, text_field=text_field, pseudonym=pseudonym):
            if fkind is not None and it.error is None:
                it.kind, log_kind = fkind
                if log_kind:
                    it.meta["log_kind"] = log_kind
            yield _item_row(it)
    except (OSError, ValueError) as exc:      # a file that vanished, a CSV without a text column
        yield _item_row(ScanItem(f"{Path(path).name}:0", file=Path(path).name, error=f"{type(exc).__name__}: {exc}"))


def _read_partition(rows: Iterable[Any], fmt: str, text_field: str | None, ip_key: bytes, raw_ips: bool,
                    spec: DetectorSpec, loads: Any = None) -> Iterator[tuple]:
    for row in rows:
        uri, content = (row, None) if isinstance(row, str) else (row["path"], row["content"])
        local = _local_path(uri) if content is None else None
        if local is not None:
            yield from _file_items(local, fmt, text_field, ip_key, raw_ips, spec, loads)
            continue
        # a remote file (hdfs:, s3a:, ...) came as bytes: parse a local copy under its own name
        with tempfile.TemporaryDirectory(prefix="secllm-spark-") as tmp:
            p = Path(tmp) / (Path(unquote(urlparse(uri).path)).name or "input")
            p.write_bytes(bytes(content or b""))
            yield from _file_items(str(p), fmt, text_field, ip_key, raw_ips, spec, loads)


def list_inputs(spark: Any, paths: Iterable[str]) -> Any:
    """A DataFrame of the files under ``paths`` (directories recursively, globs), as Spark lists
    them: columns ``path`` (a URI) and ``length``; the content is read only when selected."""
    return (spark.read.format("binaryFile").option("recursiveFileLookup", "true")
            .load([str(p) for p in paths]))


def list_files(spark: Any, paths: Iterable[str], files: Any = None) -> list[str]:
    """The URIs of the files under ``paths``, sorted."""
    files = files if files is not None else list_inputs(spark, paths)
    return sorted(r["path"] for r in files.select("path").collect())


def items_dataframe(spark: Any, paths: Iterable[str], *, fmt: str = "auto", text_field: str | None = None,
                    ip_key: bytes | None = None, raw_ips: bool = False, spec: DetectorSpec | None = None,
                    loads: Any = None) -> Any:
    """Read ``paths`` into a DataFrame of items (``ITEM_SCHEMA``), one Spark task per file.

    Local files are opened where they are (every executor must see the same path: a shared
    mount); other URIs travel as bytes through Spark's ``binaryFile`` reader (a file of up to 2 GB).
    ``ip_key`` keys the client pseudonyms (a random key per call when ``None``).
    """
    spec = spec or DetectorSpec()
    key = ip_key or secrets.token_bytes(16)
    files = list_inputs(spark, paths)
    listing = list_files(spark, paths, files)
    local = [p for p in listing if _local_path(p) is not None]
    remote = [p for p in listing if _local_path(p) is None]
    sc = spark.sparkContext

    def read(rows):
        return _read_partition(rows, fmt, text_field, key, raw_ips, spec, loads)

    rdd = sc.parallelize(local, max(1, len(local))).mapPartitions(read) if local else sc.emptyRDD()
    if remote:
        rdd = rdd.union(files.where(files.path.isin(remote)).select("path", "content").rdd.mapPartitions(read))
    return spark.createDataFrame(rdd, ITEM_SCHEMA)


# ------------------------------------------------------------------------------------------------
# Judging: item rows -> finding rows
# ------------------------------------------------------------------------------------------------

def _finding_row(it: ScanItem, r: Any, finding: dict | None) -> tuple:
    if r is None:              # unreadable: a typed error result
        return (it.id, it.file, it.line, it.source, "corrupt", "corrupt", None, None, None, None, None, it.error,
                False, None)
    verdict = r.label if r.status == "ok" else r.status
    return (it.id, it.file, it.line, it.source, verdict, r.status, r.label,
            None if r.score is None else float(r.score), r.attack_type, r.input_kind, r.task, r.error,
            finding is not None, None if finding is None else json.dumps(finding, ensure_ascii=False))


def _judge_partition(rows: Iterable[Any], spec: DetectorSpec, batch: int, evidence: bool, all_items: bool,
                     loads: Any, raw_text: bool = False, ip_key: bytes | None = None,
                     raw_ips: bool = False) -> Iterator[tuple]:
    from secllm.detect.knowledge import task_of
    from secllm.scan import IpPseudonymizer

    pseudonym = IpPseudonymizer(ip_key, raw=raw_ips)
    det = None
    buf: list[ScanItem] = []

    def flush() -> Iterator[tuple]:
        nonlocal det
        if not buf:
            return
        if det is None:
            det = executor_detector(spec, loads)
        task = task_of(det)
        for it, r in zip(buf, judge_items(buf, det, evidence=evidence, signatures=spec.signatures)):
            written = all_items or r.label == "malicious"
            f = make_finding(it, r, task, raw_text=raw_text, pseudonym=pseudonym) if written else None
            yield _finding_row(it, r, f)
        buf.clear()

    for row in rows:
        it = _row_item(row)
        if it.error is not None:
            yield _finding_row(it, None, None)
            continue
        buf.append(it)
        if len(buf) >= batch:
            yield from flush()
    yield from flush()


def scan_dataframe(items: Any, spec: DetectorSpec | None = None, *, partitions: int | None = None,
                   batch: int = 256, evidence: bool = True, all_items: bool = False, raw_text: bool = False,
                   ip_key: bytes | None = None, raw_ips: bool = False, loads: Any = None) -> Any:
    """Judge a DataFrame of items (at least ``id`` and ``text``; the other ``ITEM_SCHEMA`` columns
    are used when present) into a DataFrame of findings (``FINDING_SCHEMA``): one row per item,
    ``finding`` (the JSON line ``scan`` writes) set for the malicious ones (every one with
    ``all_items``). ``partitions``: spread the items over that many tasks first. Findings' text is
    masked unless ``raw_text``; an auth log's attacking address is pseudonymised with ``ip_key``
    (give the key :func:`items_dataframe` used, so it names a client as the items do).

        >>> df = spark.createDataFrame([("a:1", "1' or '1'='1")], "id string, text string")   # doctest: +SKIP
        >>> scan_dataframe(df).select("verdict").first()[0]          # doctest: +SKIP
        'malicious'
    """
    from pyspark.sql import functions as F

    spec = spec or DetectorSpec()
    key = ip_key or secrets.token_bytes(16)
    for name, typ in (c.split(" ") for c in ITEM_SCHEMA.split(", ")):
        if name not in items.columns:
            items = items.withColumn(name, F.lit(None).cast(typ))
    items = items.select(*[c.split(" ")[0] for c in ITEM_SCHEMA.split(", ")])
    if partitions:
        items = items.repartition(partitions)

    def judge(rows):
        return _judge_partition(rows, spec, batch, evidence, all_items, loads, raw_text, key, raw_ips)

    return items.sparkSession.createDataFrame(items.rdd.mapPartitions(judge), FINDING_SCHEMA)


def summarize(findings: Any, files: int = 0, routed: bool = False) -> ScanSummary:
    """The ``scan`` summary of a findings DataFrame: one Spark aggregation (counts per verdict,
    attack type and source of the malicious, kind and task of the judged) and the first errors."""
    from pyspark.sql import functions as F

    s = ScanSummary(files=files)
    mal = F.col("label") == "malicious"
    judged = F.col("verdict") != "corrupt"
    keys = [F.col("verdict"), F.when(mal, F.coalesce("attack_type", F.lit("unknown"))).alias("at"),
            F.when(mal, F.col("source")).alias("src"),
            F.when(judged & F.lit(routed), F.coalesce("input_kind", F.lit("-"))).alias("k"),
            F.when(judged & F.lit(routed), F.coalesce("task", F.lit("none"))).alias("t")]
    sources: Counter = Counter()
    for r in findings.groupBy(*keys).count().collect():
        n = r["count"]
        s.verdicts[r["verdict"]] += n
        if r["at"] is not None:
            s.attack_types[r["at"]] += n
        if r["src"] is not None:
            sources[r["src"]] += n
        if r["k"] is not None:
            s.kinds[r["k"]] += n
            s.tasks[r["t"]] += n
    s.items = sum(s.verdicts.values())
    for src, n in sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))[:10]:
        s.sources[src] = n
    for r in findings.where(F.col("verdict") == "corrupt").orderBy("file", "line", "id").limit(5).collect():
        s.errors.append(f"{r['id']}: {r['error']}")
    return s


def parquet_frame(findings: Any) -> Any:
    """The written findings as Parquet columns: the JSONL fields, nested ones as JSON text."""
    from pyspark.sql import functions as F

    written = findings.where(F.col("written"))
    cols = [F.get_json_object("finding", f"$.{k}").cast(t).alias(k) for k, t in PARQUET_SCALARS.items()]
    cols += [F.get_json_object("finding", f"$.{k}").alias(k) for k in PARQUET_JSON]
    return written.select(*cols)


def session(master: str = "local[2]", app: str = "secllm-scan", conf: dict[str, str] | None = None) -> Any:
    """A Spark session for ``master`` (``local[N]``, ``spark://host:7077``, ``yarn``...), quiet,
    without the web UI; executors run this Python (``PYSPARK_PYTHON``) unless already set."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    b = (SparkSession.builder.master(master).appName(app).config("spark.ui.enabled", "false")
         .config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.shuffle.partitions", "8"))
    for k, v in (conf or {}).items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@dataclass
class SparkScanResult:
    summary: ScanSummary
    model_loads: int               # detectors loaded across the executors' Python workers
    partitions: int


def spark_scan(paths: Iterable[str], spec: DetectorSpec, out: str | Path, *, spark: Any = None,
               master: str = "local[2]", fmt: str = "auto", out_format: str | None = None,
               all_items: bool = False, batch: int = 256, evidence: bool = True, text_field: str | None = None,
               ip_key: bytes | None = None, raw_ips: bool = False, raw_text: bool = False,
               partitions: int | None = None) -> SparkScanResult:
    """``secllm scan`` on Spark: read ``paths``, judge on the executors, write findings to ``out``
    (JSONL when it ends in ``.jsonl`` or ``out_format="jsonl"``, else a Parquet directory).
    ``partitions`` defaults to twice Spark's default parallelism."""
    t0 = time.monotonic()
    spark = spark or session(master)
    sc = spark.sparkContext
    loads = sc.accumulator(0)
    n = partitions or 2 * sc.defaultParallelism
    listing = list_files(spark, paths)
    key = ip_key or secrets.token_bytes(16)      # one key for the whole job: a client has one pseudonym
    items = items_dataframe(spark, listing, fmt=fmt, text_field=text_field, ip_key=key, raw_ips=raw_ips,
                            spec=spec, loads=loads)
    files = len(listing)
    findings = scan_dataframe(items, spec, partitions=n, batch=batch, evidence=evidence, all_items=all_items,
                              raw_text=raw_text, ip_key=key, raw_ips=raw_ips, loads=loads).persist()
    try:
        out_s = str(out)
        fmt_out = out_format or ("jsonl" if out_s.endswith(".jsonl") or out_s == "-" else "parquet")
        if fmt_out == "jsonl":
            rows = findings.where("written").select("finding").toLocalIterator()
            if out_s == "-":
                for r in rows:
                    sys.stdout.write(r[0] + "\n")
                sys.stdout.flush()
            else:
                with open(out_s, "w", encoding="utf-8") as f:
                    for r in rows:
                        f.write(r[0] + "\n")
        else:
            parquet_frame(findings).write.mode("overwrite").parquet(out_s)
        summary = summarize(findings, files=files, routed=spec.routed)
    finally:
        findings.unpersist()
    summary.seconds = time.monotonic() - t0
    return SparkScanResult(summary, int(loads.value), n)


def findings_counter(lines: Iterable[str]) -> Counter:
    """The JSONL findings as a multiset of canonical JSON texts (order-insensitive comparison)."""
    return Counter(json.dumps(json.loads(x), sort_keys=True) for x in lines if x.strip())
