"""Making hostile input safe to show: in a terminal (no control sequences) or in HTML.

    >>> term_safe("a\\x1b[31mred")
    'a\\\\x1b[31mred'
"""

from __future__ import annotations

import html


def term_safe(text: str) -> str:
    """Replace control characters (ESC, BEL, CR, ...) by visible escapes, so printing an analysed
    input can never drive the analyst's terminal."""
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0x80 <= o < 0xA0:
            out.append(f"\\x{o:02x}")
        elif 0xD800 <= o <= 0xDFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    return "".join(out)


def html_safe(text: str) -> str:
    return html.escape(term_safe(text), quote=True)
