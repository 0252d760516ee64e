"""Knowledge mappers: numpy TF-IDF matches scikit-learn, model save/load, CWE and ATT&CK mapping
(with the real "no technique" outcome), and `secllm map cwe|attack` on tiny models built here."""

from __future__ import annotations

import json

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from click.testing import CliRunner  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402

from secllm.cli import main  # noqa: E402
from secllm.knowledge.cwe_map import CweMapper  # noqa: E402
from secllm.knowledge.technique_map import TechniqueMapper  # noqa: E402
from secllm.knowledge.textmodel import SparseLinear, TextModel, TfidfBlock  # noqa: E402

CWE_TEXTS = {
    "CWE-89": ["SQL injection in login.php via the id parameter", "blind SQL injection in the search query",
               "SQL injection allows remote attackers to execute arbitrary SQL commands"],
    "CWE-79": ["cross-site scripting in the comment field", "XSS via the name parameter injects script",
               "stored cross-site scripting allows remote attackers to inject web script"],
    "CWE-416": ["use-after-free in the PDF parser", "use after free when closing a tab",
                "a use-after-free allows code execution via a crafted document"],
}
ATT_TEXTS = {
    "none": ["The company published its quarterly report on Tuesday", "The weather was mild all week long",
             "Our team thanks the reviewers for their helpful comments"],
    "T1003.001": ["The actor dumped LSASS memory to steal credentials", "procdump was used against lsass to dump memory",
                  "credentials were harvested from LSASS process memory"],
    "T1059.001": ["The implant ran encoded PowerShell commands", "PowerShell scripts downloaded the payload",
                  "attackers executed powershell with a hidden window"],
}


def _model(groups: dict[str, list[str]], kind_none_first: bool = False) -> TextModel:
    """A tiny fitted TextModel: sklearn TF-IDF + a nearest-centroid linear layer (hermetic, no data)."""
    labels = list(groups)
    texts = [t for g in labels for t in groups[g]]
    wv = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(texts)
    cv = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True).fit(texts)
    import scipy.sparse as sp

    X = sp.hstack([wv.transform(texts), cv.transform(texts)]).toarray()
    y = np.array([labels.index(g) for g in labels for _ in groups[g]])
    coef = np.stack([X[y == k].mean(0) for k in range(len(labels))]) * 20
    lin = SparseLinear.from_dense(coef, np.zeros(len(labels)), per_class=400)
    return TextModel([TfidfBlock.from_sklearn(wv), TfidfBlock.from_sklearn(cv)], [1.0, 1.0], lin, labels, "softmax",
                     {"none_threshold": 0.5, "ratio": 1.0} if kind_none_first else {})


def test_numpy_tfidf_matches_sklearn():
    texts = ["SQL injection in login.php", "Use-after-free in  the PDF parser, twice: free free", "x"]
    for vec in (TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)):
        vec.fit(texts)
        block = TfidfBlock.from_sklearn(vec)
        ref = vec.transform(texts).toarray()
        for t, row in zip(texts, ref):
            cols, vals = block.transform_one(t)
            got = np.zeros(len(block.vocab))
            got[cols] = vals
            np.testing.assert_allclose(got, row, atol=1e-6)


def test_sparse_linear_pruning_and_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(3, 50))
    lin = SparseLinear.from_dense(coef, np.zeros(3), per_class=5, dtype=np.float32)
    assert len(lin.weights) == 15 and lin.classes.dtype == np.uint16
    W = lin.dense()
    for k in range(3):                       # each class keeps its 5 largest |w|
        assert set(np.nonzero(W[k])[0]) == set(np.argsort(-np.abs(coef[k]))[:5])
    m = _model(CWE_TEXTS)
    d = m.save(tmp_path / "m")
    assert {p.name for p in d.iterdir()} == {"model.safetensors", "model.json"}
    m2 = TextModel.load(d)
    texts = ["SQL injection in admin.php", "heap use-after-free"]
    np.testing.assert_allclose(m.scores(texts), m2.scores(texts), atol=1e-6)


def test_load_rejects_mismatched_files(tmp_path):
    d = _model(CWE_TEXTS).save(tmp_path / "m")
    cfg = json.loads((d / "model.json").read_text())
    cfg["blocks"][0]["vocab"] = cfg["blocks"][0]["vocab"][:-1]
    (d / "model.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError):
        TextModel.load(d)


def test_cwe_mapper_top_k_and_item_failures(tmp_path):
    d = _model(CWE_TEXTS).save(tmp_path / "cwe")
    m = CweMapper.load(str(d))
    res = m.map(["A SQL injection in the report page lets attackers run SQL", "", 42, "x" * 30_000], top=2)
    assert [r.status for r in res] == ["ok", "empty", "bad_input", "too_large"]
    assert res[0].cwe[0]["id"] == "CWE-89" and len(res[0].cwe) == 2
    assert res[0].cwe[0]["url"].endswith("/89.html") and 0 < res[0].cwe[0]["score"] <= 1
    assert m.map(["stored cross-site scripting in the profile page"])[0].cwe[0]["id"] == "CWE-79"


def test_technique_mapper_none_is_a_real_outcome(tmp_path):
    d = _model(ATT_TEXTS, kind_none_first=True).save(tmp_path / "att")
    m = TechniqueMapper.load(str(d))
    hit, none = m.map(["The group dumped LSASS memory with procdump", "The report was published on Tuesday"])
    assert hit.status == "ok" and not hit.none and hit.techniques[0]["id"] == "T1003.001"
    assert none.status == "ok" and none.none and none.techniques == [] and none.none_score >= 0.5
    assert none.candidates and none.candidates[0]["id"] != "none"     # the ranking still shows the nearest techniques
    with pytest.raises(ValueError):
        TechniqueMapper(_model(CWE_TEXTS))                            # first label must be 'none'


def test_map_cli_cwe_and_attack(tmp_path):
    cwe_dir = _model(CWE_TEXTS).save(tmp_path / "cwe")
    att_dir = _model(ATT_TEXTS, kind_none_first=True).save(tmp_path / "att")
    r = CliRunner().invoke(main, ["map", "cwe", "--model", str(cwe_dir), "--json", "--top", "2",
                                  "use-after-free in the image decoder"])
    assert r.exit_code == 0, r.output
    line = json.loads(r.output.strip().splitlines()[0])
    assert line["status"] == "ok" and line["cwe"][0]["id"] == "CWE-416" and len(line["cwe"]) == 2
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": "a", "text": "attackers ran PowerShell commands"}\n'
                   '{"id": "b", "text": "The weather report was mild"}\nnot json\n')
    r = CliRunner().invoke(main, ["map", "attack", "--model", str(att_dir), "--jsonl", "--file", str(src), "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.output.strip().splitlines()]
    assert [x["id"] for x in rows[:2]] == ["a", "b"]
    assert rows[0]["attack"][0]["id"] == "T1059.001" and rows[0]["none"] is False
    assert rows[1]["none"] is True and rows[1]["attack"] == []
    assert rows[2]["status"] == "bad_json"
    r = CliRunner().invoke(main, ["map", "attack", "--model", str(att_dir), "Quarterly report published"])
    assert r.exit_code == 0 and "no technique" in r.output
    r = CliRunner().invoke(main, ["map", "attack", "--model", str(tmp_path / "missing"), "x"])
    assert r.exit_code != 0 and "Traceback" not in r.output and "cannot load" in r.output


def test_lowrank_shipped_form_matches_the_factorised_fit(tmp_path):
    import scipy.sparse as sp

    from secllm.tasks.sparse_linear import lowrank_textmodel

    texts = [t for g in CWE_TEXTS.values() for t in g]
    wv = TfidfVectorizer(sublinear_tf=True).fit(texts)
    cv = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4), sublinear_tf=True).fit(texts)
    n = len(wv.vocabulary_) + len(cv.vocabulary_)
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(n, 6)), rng.normal(size=(6, 3))
    full = lowrank_textmodel([wv, cv], list(CWE_TEXTS), (A, B), np.zeros(3), rank=6, keep=1.0)
    ref = sp.hstack([wv.transform(texts), cv.transform(texts)]).toarray() @ A @ B
    np.testing.assert_allclose(full.logits(texts), ref, atol=0.05 * np.abs(ref).max())   # int8 rows
    small = lowrank_textmodel([wv, cv], list(CWE_TEXTS), (A, B), np.zeros(3), rank=3, keep=0.5)
    assert sum(len(b.vocab) for b in small.blocks) == round(0.5 * n) and small.linear.f_q.shape[1] == 3
    back = TextModel.load(small.save(tmp_path / "lr"))
    np.testing.assert_allclose(back.scores(texts), small.scores(texts), atol=1e-9)


def test_factorised_training_learns_partial_labels():
    pytest.importorskip("torch")
    import scipy.sparse as sp

    from secllm.tasks.sparse_linear import fit_sparse_linear

    X = sp.csr_matrix(np.eye(4, dtype=np.float32))
    coef, b, info = fit_sparse_linear(X, [[0], [1], [0, 1], [2]], 3, loss="partial", epochs=40, lr=0.1,
                                      batch_size=2, rank=2)
    assert info["factors"][0].shape == (4, 2) and info["factors"][1].shape == (2, 3)
    z = X.toarray() @ coef.T + b
    assert z[0].argmax() == 0 and z[1].argmax() == 1 and z[3].argmax() == 2 and z[2].argmax() in (0, 1)


def test_shipped_models_load_small_and_answer():
    from secllm.knowledge.cwe_map import default_model_dir as cwe_dir
    from secllm.knowledge.technique_map import default_model_dir as att_dir

    for d in (cwe_dir(), att_dir()):
        if not (d / "model.json").exists():
            pytest.skip("shipped mapper models not present")
        assert sum(f.stat().st_size for f in d.iterdir()) < 3_000_000
        assert {f.suffix for f in d.iterdir()} == {".json", ".safetensors"}      # no pickle
    cwe = CweMapper.load()
    assert cwe.model.meta["catalog"]["cwe"] and len(cwe.model.labels) > 500
    r = cwe.map(["SQL injection in login.php allows remote attackers to execute arbitrary SQL commands "
                 "via the username parameter."], top=3)[0]
    assert r.status == "ok" and "CWE-89" in [c["id"] for c in r.cwe]
    att = TechniqueMapper.load()
    assert len(att.model.labels) > 600 and 0 < att.none_threshold < 1
    hit, none = att.map(["The actor dumped LSASS memory with procdump to harvest credentials.",
                         "The quarterly report was published on Tuesday by the company."])
    assert not hit.none and hit.techniques[0]["id"].startswith("T1003")
    assert none.none and none.techniques == []
