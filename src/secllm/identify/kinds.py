"""The kinds of input the identifier tells apart, and the typed results it returns.

A *kind* says what an input is, so that it reaches only the task models made for it. ``log-line``
and ``access-log`` carry a *family* (which system or format wrote the line); ``binary`` may carry
``gzip``. Every identification has a confidence; below the shipped threshold the kind is
``unknown`` (the best guess stays visible in ``scores``).

    >>> "payload" in KINDS and "openssh" in LOG_FAMILIES
    True
    >>> Identification("url", None, 0.99, {"url": 0.99}).ok
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

# Kinds in the order reports list them. The first group is what the web model judges.
KINDS = (
    "http-request",       # a raw HTTP/1.x request: request line + headers (+ body)
    "url",                # an absolute URL, a scheme-less host/path, or a request target (path + query)
    "payload",            # a web parameter value, benign or attack: "john", "42", "1' or 1=1--"
    "access-log",         # one web-server access-log line (family: the format)
    "log-line",           # one line of a system / application log (family: the system)
    "windows-event",      # one Windows event record, as XML or JSON
    "event-sequence",     # event keys or system-call numbers separated by blanks or commas
    "script-powershell",
    "script-javascript",  # JavaScript, or HTML that carries script
    "script-php",
    "script-shell",
    "script-python",
    "script-other",       # source code in another language (Perl, Tcl, C, ...)
    "cti-text",           # threat-intel / vulnerability prose (reports, ATT&CK procedures, CVEs)
    "text-en",            # ordinary English prose
    "text-zh",            # ordinary Chinese prose
    "pcap",               # a packet capture (pcap / pcapng), told by its magic number
    "binary",             # bytes that are not text (control-heavy or undecodable)
    "unknown",            # nothing above with enough confidence
)

# Families of ``log-line``: loghub's systems (named for what wrote them) plus nginx's error log.
LOG_FAMILIES = (
    "openssh",            # sshd / authentication lines
    "linux-syslog",       # classic syslog of a Linux host
    "mac",                # macOS system log
    "apache-error",       # Apache httpd error log
    "nginx-error",        # nginx error log (told by its fixed format)
    "hdfs",
    "hadoop",
    "spark",
    "zookeeper",
    "openstack",
    "bgl",                # Blue Gene/L RAS log (supercomputer)
    "hpc",                # HPC cluster log
    "thunderbird",        # Thunderbird supercomputer syslog
    "windows-cbs",        # Windows Component-Based Servicing log
    "android",            # Android logcat
    "healthapp",
    "proxifier",
    "other",              # a log line of another system
)

# Families of ``access-log``: the line's format.
ACCESS_LOG_FAMILIES = ("combined", "common", "vhost", "iis-w3c", "json")


class Status(str, Enum):
    """What happened to one input. Only ``error`` means no identification was attempted."""

    OK = "ok"
    EMPTY = "empty"                  # nothing but blanks: kind "unknown"
    TRUNCATED = "truncated"          # longer than the limit: identified from its first bytes
    INVALID_UTF8 = "invalid-utf8"    # bytes that are not UTF-8: read as latin-1 (lossless)
    ERROR = "error"                  # an unexpected failure (never raised; kind "unknown")


@dataclass
class Identification:
    """What one input is.

    ``kind`` is one of :data:`KINDS`; ``family`` is set for ``log-line`` / ``access-log`` (and
    ``binary`` of a known container); ``confidence`` is the probability of ``kind`` (0.99 for a
    structural rule); ``scores`` holds the model's three likeliest kinds and, for a family, the
    probability of ``<kind>:<family>``; ``method`` says whether a structural ``rule`` or the learned
    ``model`` decided (``none`` for empty or failed input); ``message`` says why, when it is not ok.
    """

    kind: str
    family: str | None
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)
    status: str = Status.OK.value
    method: str = "model"
    message: str | None = None

    @property
    def ok(self) -> bool:
        """True when an identification was made (whatever the kind, ``unknown`` included)."""
        return self.status != Status.ERROR.value

    @property
    def label(self) -> str:
        """``kind`` or ``kind/family``: the one string to route on."""
        return f"{self.kind}/{self.family}" if self.family else self.kind

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FileIdentification:
    """What a file is: its kind, and whether its lines agree.

    ``unit`` is ``"file"`` when the file is one item (a script, a capture, a document) and
    ``"line"`` when each line is an item (logs, URL lists, payload lists). ``mixed`` is True when
    the sampled lines disagree (less than :attr:`share` of them have the top kind): route such a
    file line by line. ``counts`` holds the sampled lines' labels (``kind`` or ``kind/family``).
    """

    kind: str
    family: str | None
    confidence: float
    mixed: bool
    unit: str
    counts: dict[str, int] = field(default_factory=dict)
    lines_sampled: int = 0
    share: float = 1.0
    status: str = Status.OK.value
    compressed: str | None = None    # "gzip" when the file was read through gunzip
    message: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}/{self.family}" if self.family else self.kind

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
