"""The docs hold together: the README is a short front door, every relative link in it and in
``docs/*.md`` points at a file (and heading) that exists, and the generated tables match ``reports/``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250          # issue 19: a README a newcomer reads in five minutes
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not - and _), spaces → '-'."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#{1,6} (.+)$", text, re.M):
        s = _slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def _links(page: Path):
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    for m in LINK.finditer(text):
        target = m.group(1)
        if re.match(r"[a-z]+:", target) or target.startswith("#") and not target[1:]:
            continue                                    # http(s):, mailto: ...
        yield target


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        # the README candidate is written as the README it will become: links relative to the root
        base = ROOT if page.name == "README.candidate.md" else page.parent
        dest = (base / path).resolve() if path else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"


def _check_front_door(page: Path, max_lines: int) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= max_lines, f"{page.name} has {len(lines)} lines (at most {max_lines})"
    linked = {t.partition("#")[0] for t in _links(page)}
    for area in ("docs/cli.md", "docs/api.md", "docs/web-attack.md", "docs/tasks.md", "docs/runtime.md",
                 "docs/evaluation.md"):
        assert area in linked, f"{page.name} does not link {area}"
    text = "\n".join(lines)
    for command in ("bash scripts/demo.sh", "bash scripts/test.sh"):
        assert command in text


def test_readme_is_a_front_door():
    _check_front_door(ROOT / "README.md", README_MAX_LINES)


def test_generated_tables_match_reports():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "docs_tables.py"), "--check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
