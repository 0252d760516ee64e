"""The web-attack task: dataset adapter and label set.

Training data = HttpParams train (minus its 10% validation carve-out) + FuzzDB attack lists +
1book URLs (train split) + real browser User-Agent strings as benign header values (Debian
sqlmap's list, when installed) + ordinary benign values of other kinds (``secllm.data.benign_values``:
Faker form values in ten locales, CVE descriptions up to 2012, TRAM threat-report sentences). Validation = the validation parts of the same sources. Test sets are
reported separately: the HttpParams author test split, the 1book test split, the FuzzDB test split.

Leakage rule: a training or validation row whose canonical text equals a row of any *test*
split (HttpParams test included) is removed from training and validation, so that the author's
test split stays intact and comparable with published numbers.

    >>> data = load_web_attack(datasets_dir())             # doctest: +SKIP
    >>> sorted(data)                                        # doctest: +SKIP
    ['test:1book', 'test:fuzzdb', 'test:http_params', 'train', 'val']
"""

from __future__ import annotations

from pathlib import Path

from secllm.data.corpus import model_text
from secllm.data.records import Record
from secllm.data.sources import WEB_LABELS, fuzzdb, http_params, web_urls_1book
from secllm.data.split import dedupe, stratified_split
from secllm.detect.prefilter import is_bare_token
from secllm.tasks.examples import Examples

TASK = "web-attack"
LABELS = list(WEB_LABELS)

# A single bare token of letters, digits and ``_ . - @`` (no "..", no separators, no quotes or
# brackets) cannot carry an injection by itself. FuzzDB's attack folders hold such *wordlists*
# (741 of 923 training "cmdi" rows are bare command names like ``acpid``; HTML attribute names
# under xss; SQL keywords under sqli): fuzzing vocabulary, not payloads. As positives they teach
# "any short word is an attack" (label noise, pitfall 2 of EVALUATION.md), so they are dropped
# from FuzzDB's training and validation rows; the test splits are kept as they are.
# (``secllm.detect.prefilter.is_bare_token``, the detector's first stage, uses the same rule.)


def _examples(recs) -> Examples:
    return Examples([r.text for r in recs], [r.modality for r in recs], [r.label for r in recs],
                    [r.source for r in recs])


USER_AGENTS = Path("/usr/share/sqlmap/data/txt/user-agents.txt")


def benign_user_agents(path: Path = USER_AGENTS) -> list[Record]:
    """Real browser User-Agent strings (benign header values), stratified 80/10/10 (seed 0).

    The detector scores attacker-controllable headers of whole requests, but the web datasets
    hold parameter values and URLs only; without benign header values a normal browser
    User-Agent (parentheses, semicolons) is out of distribution. Debian's ``sqlmap`` package
    ships 4,274 real User-Agent strings (``data/txt/user-agents.txt``); absent → empty list.
    """
    if not path.exists():
        return []
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = dedupe([ln.strip() for ln in f if ln.strip() and not ln.startswith("#")])
    recs = [Record(id=f"ua:{i}", modality="payload", text=t, label="benign", source="user-agents")
            for i, t in enumerate(lines)]
    for r, s in zip(recs, stratified_split(["b"] * len(recs), seed=0)):
        r.meta["split"] = s
    return recs


def load_web_attack(root: Path, *, use_1book: bool = True, use_fuzzdb: bool = True,
                    use_user_agents: bool = True, use_benign_values: bool = True,
                    max_good_xss: int | None = 20_000) -> dict[str, Examples]:
    """Splits of the web-attack task as ``{"train", "val", "test:<source>"}`` → Examples."""
    sources = {"http_params": http_params(root)}
    if use_user_agents:
        ua = benign_user_agents()
        if ua:
            sources["user_agents"] = ua
    if use_benign_values:
        from secllm.data.benign_values import cve_summaries, faker_values, tram_sentences

        for name, fn in (("faker", faker_values), ("cve_summaries", lambda: cve_summaries(root)),
                         ("tram_sentences", lambda: tram_sentences(root))):
            try:
                recs = fn()
            except FileNotFoundError:
                recs = []
            if recs:
                sources[name] = recs
    if use_fuzzdb:
        sources["fuzzdb"] = [r for r in fuzzdb(root) if r.label is not None]
    # the 1book test split is always built, so that "train without 1book, test on it" is possible
    sources["1book"] = web_urls_1book(root, max_good_xss=max_good_xss)

    tests = {f"test:{name}": [r for r in recs if r.meta["split"] == "test"] for name, recs in sources.items()}
    test_keys = {model_text(r.text, r.modality) for recs in tests.values() for r in recs}
    train, val = [], []
    dropped = 0
    for name, recs in sources.items():
        if name == "1book" and not use_1book:
            continue
        for r in recs:
            split = r.meta["split"]
            if split == "test":
                continue
            key = model_text(r.text, r.modality)
            if key in test_keys:
                dropped += 1
                continue
            if name == "fuzzdb" and is_bare_token(key):
                continue
            (train if split == "train" else val).append(r)
    out = {"train": _examples(train), "val": _examples(val)}
    out.update({k: _examples(v) for k, v in tests.items()})
    out["_dropped_overlap"] = dropped          # type: ignore[assignment]
    return out
