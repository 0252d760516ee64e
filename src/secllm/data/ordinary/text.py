"""Text helpers for the ordinary corpus: URL extraction, prose paragraphs and sentences (English
and Chinese), man-page rendering and HTML paragraph extraction.

    >>> find_urls("See https://docs.python.org/3/library/re.html, or (https://pypi.org/).")
    ['https://docs.python.org/3/library/re.html', 'https://pypi.org/']
    >>> zh_sentences("复制文件和目录。必选参数对长短选项同时适用！")
    ['复制文件和目录。', '必选参数对长短选项同时适用！']
"""

from __future__ import annotations

import gzip
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

from secllm.data.readers import split_sentences

__all__ = [
    "find_urls",
    "clean_url",
    "paragraphs",
    "is_english_prose",
    "is_chinese_prose",
    "zh_sentences",
    "en_sentences",
    "render_manpage",
    "html_paragraphs",
    "html_links",
    "read_text_file",
]

# A URL ends at whitespace, quotes, angle brackets or a backslash; trailing punctuation is trimmed
# below (a sentence's period or comma is not part of the link).
_URL = re.compile(r"""\bhttps?://[^\s<>"'`\\{}|^\x00-\x1f\x7f]+""", re.IGNORECASE)
_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}\.?(?::\d{1,5})?$"
                   r"|^\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?$", re.IGNORECASE)
_TRAIL = ".,;:!?*'\""


def clean_url(url: str) -> str | None:
    """Trim trailing punctuation and unbalanced closing brackets; ``None`` if no valid host.

        >>> clean_url("https://example.org/a_(b)).")
        'https://example.org/a_(b)'
        >>> clean_url("http://localhost:8000/x") is None, clean_url("https://$HOST/x") is None
        (True, True)
    """
    while url:
        last = url[-1]
        if last in _TRAIL:
            url = url[:-1]
        elif last in ")]" and url.count("(" if last == ")" else "[") < url.count(last):
            url = url[:-1]
        else:
            break
    m = re.match(r"https?://([^/?#]*)", url, re.IGNORECASE)
    if not m:
        return None
    host = m.group(1).rsplit("@", 1)[-1]
    if not _HOST.match(host):
        return None  # placeholders ($HOST, <server>), bare names (localhost), templates
    return url


def find_urls(text: str) -> list[str]:
    """http(s) URLs in free text, cleaned with :func:`clean_url`, in order of appearance."""
    out = []
    for m in _URL.finditer(text):
        url = clean_url(m.group(0))
        if url:
            out.append(url)
    return out


_BLANK = re.compile(r"\n[ \t]*\n")


def paragraphs(text: str) -> list[str]:
    """Blocks separated by blank lines, wrapped lines joined (a hyphen at a line break joins words).

        >>> paragraphs("A wrapped\\n  line of text.\\n\\nNext para-\\ngraph.")
        ['A wrapped line of text.', 'Next paragraph.']
    """
    out = []
    for block in _BLANK.split(text):
        lines = [ln.strip() for ln in block.splitlines() if ln.strip()]
        if not lines:
            continue
        joined = lines[0]
        for ln in lines[1:]:
            if joined.endswith("-") and len(joined) > 1 and joined[-2].isalpha() and ln[:1].islower():
                joined = joined[:-1] + ln
            else:
                joined += " " + ln
        out.append(re.sub(r"[ \t]+", " ", joined))
    return out


_WORD = re.compile(r"[A-Za-z][a-z]+(?:'[a-z]+)?")
_PLAIN_TOKEN = re.compile(r"[\"'(\[]*[A-Za-z][A-Za-z'’-]*[.,;:!?)\]\"']*|\d+[.,]?")
_FUNCTION_WORDS = frozenset("the a an is are was be to of and or in on for with this that it by not as from "
                            "can will if when which you your".split())
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_english_prose(text: str, min_words: int = 6) -> bool:
    """True for text that reads as English sentences rather than code, options or tables.

        >>> is_english_prose("List information about the files in the current directory.")
        True
        >>> is_english_prose("-a, --all  --block-size=SIZE  ls -l /tmp"), is_english_prose("x = f(a, b)")
        (False, False)
    """
    words = _WORD.findall(text)
    if len(words) < min_words or not text[:1].isalnum() and text[:1] not in "\"'(":
        return False
    letters = sum(c.isalpha() or c.isspace() for c in text)
    if letters / len(text) < 0.8:
        return False  # code, paths, option tables
    tokens = text.split()
    plain = sum(bool(_PLAIN_TOKEN.fullmatch(t)) for t in tokens)
    if plain / len(tokens) < 0.8 or not any(t.lower() in _FUNCTION_WORDS for t in tokens):
        return False  # command lines ("ls -l /etc | grep x"), identifiers, tables
    lower = sum(w.islower() for w in words)
    return lower / len(words) >= 0.5 and not _CJK.search(text)


def is_chinese_prose(text: str, min_chars: int = 6) -> bool:
    """True for text with at least ``min_chars`` CJK characters making up >= 30% of its non-blanks.

        >>> is_chinese_prose("从指定的来源文件复制到目标处。"), is_chinese_prose("-a 全部 --all --archive")
        (True, False)
    """
    cjk = len(_CJK.findall(text))
    non_blank = sum(not c.isspace() for c in text)
    return cjk >= min_chars and cjk / max(non_blank, 1) >= 0.3


_ZH_END = re.compile(r"[^。！？!?；]*[。！？!?；]+[”’」』）)]*|[^。！？!?；]+$")


def zh_sentences(text: str) -> list[str]:
    """Chinese sentences: split after 。！？!?； (closing quotes stay with their sentence)."""
    return [s.strip() for s in _ZH_END.findall(text) if s.strip()]


def en_sentences(text: str) -> list[str]:
    """English sentences of one paragraph (:func:`secllm.data.readers.split_sentences`)."""
    return [text[s:e] for s, e in split_sentences(text)]


def render_manpage(path: str | Path, timeout: float = 20.0) -> str:
    """Render a (possibly gzip-compressed) man page to plain UTF-8 text with groff.

    ``-k`` runs preconv (input encoding), ``-P-cbou`` drops bold/underline/colour, and a very long
    line length keeps each paragraph on one line. Raises ``OSError`` / ``subprocess`` errors when
    groff is missing or fails; callers treat that as one unreadable document.
    """
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    proc = subprocess.run(["groff", "-k", "-mandoc", "-Tutf8", "-P-cbou", "-rLL=2000n", "-rHY=0"],
                          input=raw, capture_output=True, timeout=timeout, check=True)
    return proc.stdout.decode("utf-8", "replace")


def read_text_file(path: str | Path, max_bytes: int = 2_000_000) -> str | None:
    """A text file's content (gzip transparently), ``None`` for binary or over-size files."""
    try:
        raw = Path(path).read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError):
        return None
    if len(raw) > max_bytes or b"\x00" in raw[:8192]:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class _Paragraphs(HTMLParser):
    """Collects the text of <p>, <li> and <dd> blocks (outside <pre>, <script>, <style>)."""

    _BLOCKS = {"p", "li", "dd"}
    _SKIP = {"script", "style", "pre"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.links: list[str] = []
        self._buf: list[str] | None = None
        self._depth = 0
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append(href)
        if tag in self._SKIP:
            self._skip += 1
        if tag in self._BLOCKS:
            if self._buf is None:
                self._buf = []
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        if tag in self._BLOCKS and self._depth:
            self._depth -= 1
            if self._depth == 0 and self._buf is not None:
                self.blocks.append(re.sub(r"\s+", " ", "".join(self._buf)).strip())
                self._buf = None

    def handle_data(self, data: str) -> None:
        if self._buf is not None and not self._skip:
            self._buf.append(data)


def _parse_html(html: str) -> _Paragraphs:
    parser = _Paragraphs()
    parser.feed(html)
    parser.close()
    return parser


def html_paragraphs(html: str) -> list[str]:
    """Text of the paragraphs and list items of an HTML page.

        >>> html_paragraphs("<p>The <em>re</em> module.</p><pre>x = 1</pre><li>Item one</li>")
        ['The re module.', 'Item one']
    """
    return [b for b in _parse_html(html).blocks if b]


def html_links(html: str) -> list[str]:
    """The ``href`` of every ``<a>`` in an HTML page, in order."""
    return _parse_html(html).links
