"""Input identification: what an item, a line or a file is, so that it reaches only the task
models made for that kind (think magika, for security data).

    >>> from secllm.identify import Identifier
    >>> idf = Identifier.load()                                    # the shipped model (~1 MB)
    >>> idf.identify("GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n").kind
    'http-request'
    >>> idf.identify("1' or 1=1--").kind
    'payload'
    >>> [r.label for r in idf.identify_batch(["https://example.com/a?b=1", "<?php echo 1; ?>"])]
    ['url', 'script-php']

Structural checks decide the formats a grammar fixes (capture magic numbers, request line +
headers, access-log layouts, Windows event envelopes, shebangs); a small hashed byte-n-gram model
(numpy only at serving time) decides the rest, and answers ``unknown`` below its confidence
threshold. Kinds and families: :data:`KINDS`, :data:`LOG_FAMILIES`, :data:`ACCESS_LOG_FAMILIES`.
Method and measured accuracy: ``docs/identify.md``.
"""

from secllm.identify.kinds import (
    ACCESS_LOG_FAMILIES,
    KINDS,
    LOG_FAMILIES,
    FileIdentification,
    Identification,
    Status,
)
from secllm.identify.model import DEFAULT_IDENTIFY_DIR, Identifier

__all__ = [
    "ACCESS_LOG_FAMILIES",
    "DEFAULT_IDENTIFY_DIR",
    "FileIdentification",
    "Identification",
    "Identifier",
    "KINDS",
    "LOG_FAMILIES",
    "Status",
]
