"""Shared fixtures: a tiny tokenizer and a tiny fine-tuned web-attack model, built in seconds.

Tests never read ../shared/datasets: the fixture data below is written here, so the suite is
hermetic (CI may not have the datasets).
"""

from __future__ import annotations

import random

import pytest

BENIGN = ["john", "smith", "12345", "madrid", "c/ caridad s/n", "campello, el", "nue37", "hello world",
          "2023-05-01", "alice@example", "page=2", "search shoes", "blue", "london", "42", "yes"]
SQLI = ["1' or '1'='1", "' union select password from users--", "1 and 1=1", "admin'--",
        "1; drop table users", "' or 1=1#", "1 union all select null,null--", "x' and sleep(5)--"]
XSS = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>",
       "javascript:alert(document.cookie)", "<body onload=alert('x')>", "<iframe src=javascript:alert(1)>"]
TRAV = ["../../../etc/passwd", "..\\..\\windows\\win.ini", "....//....//etc/passwd", "/../../../../etc/shadow"]
CMDI = ["; cat /etc/passwd", "| ls -la", "`id`", "$(whoami)", "&& ping -c 1 127.0.0.1"]


def toy_examples(n_per_class: int = 40, seed: int = 0):
    """Tiny labeled web-attack set with light random variation."""
    from secllm.tasks.finetune import Examples

    rng = random.Random(seed)
    texts, labels = [], []
    for lab, pool in (("benign", BENIGN), ("sqli", SQLI), ("xss", XSS), ("path-traversal", TRAV), ("cmdi", CMDI)):
        for _ in range(n_per_class):
            t = rng.choice(pool)
            if rng.random() < 0.5:
                t = t + str(rng.randint(0, 99)) if lab == "benign" else t.upper() if rng.random() < 0.3 else t
            texts.append(t)
            labels.append(lab)
    return Examples(texts, ["payload"] * len(texts), labels)


def hdfs_examples(n: int, seed: int):
    """Tiny HDFS-like sessions: ``n`` normal and ``n`` anomalous event-key sequences."""
    from secllm.tasks.finetune import Examples

    rng = random.Random(seed)
    norm = [" ".join(f"e{rng.choice([5, 22, 11, 9])}" for _ in range(rng.randint(3, 8))) for _ in range(n)]
    anom = [" ".join(f"e{rng.choice([5, 7, 13, 28])}" for _ in range(rng.randint(3, 8))) for _ in range(n)]
    return Examples(norm + anom, ["log"] * (2 * n), ["normal"] * n + ["anomaly"] * n)


@pytest.fixture(scope="session")
def tiny_tokenizer():
    from secllm.tokenizer import train_tokenizer

    texts = BENIGN + SQLI + XSS + TRAV + CMDI
    return train_tokenizer(texts * 20 + ["45 00 00 3c 1c 46 40 00"] * 20, vocab_size=400, min_frequency=1)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory, tiny_tokenizer):
    """A tiny masked-LM base pretrained for a few steps."""
    from secllm.pretrain.trainer import PretrainConfig, pretrain

    rows = [("payload", t) for t in BENIGN + SQLI + XSS + TRAV + CMDI] * 4
    out = tmp_path_factory.mktemp("base")
    cfg = PretrainConfig(size="tiny", steps=6, batch_tokens=512, warmup=2, save_every=3, log_every=2, eval_every=3)
    return pretrain(rows, tiny_tokenizer, cfg, out, val_corpus=rows[:20], progress=False)


@pytest.fixture(scope="session")
def tiny_web_model(tmp_path_factory, tiny_base):
    """A tiny web-attack classifier fine-tuned from the tiny base."""
    from secllm.tasks.finetune import FinetuneConfig, finetune

    labels = ["benign", "sqli", "xss", "cmdi", "path-traversal"]
    out = tmp_path_factory.mktemp("web")
    return finetune(toy_examples(40, 0), toy_examples(8, 1), labels, out, base_dir=tiny_base,
                    cfg=FinetuneConfig(epochs=12, lr=2e-3, batch_tokens=256), progress=False)
