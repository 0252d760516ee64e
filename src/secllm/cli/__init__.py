"""The ``secllm`` command line: a thin layer over the library, one module per command group.

    secllm demo                                   # judge built-in samples with the shipped model
    secllm detect "id=1' or '1'='1"               # one item
    secllm detect --file requests.txt --json      # one item per line (or --jsonl)
    secllm scan access.log --out findings.jsonl   # files and streams
    secllm incidents findings.jsonl eve.json      # correlate findings and alerts into incidents
    secllm kb search "远程代码执行 缓解"            # ATT&CK + CWE knowledge, Chinese or English
    secllm map cwe "SQL injection in login.php"   # CVE description → CWE weaknesses
    secllm map attack "The actor ran whoami"      # threat text → ATT&CK techniques (or none)
    secllm ask "这个请求是SQL注入吗：id=1' or 1=1--"  # ask in Chinese or English (secllm chat: a conversation)
    secllm identify --file access.log             # what an input or a file is
    secllm corpus build --out runs/corpus         # unlabeled corpus from the datasets' training splits
    secllm pretrain --corpus runs/corpus --out runs/base
    secllm finetune web-attack --base runs/base/model --out runs/web

Options fall back to environment variables (``SECLLM_MODEL``, ``SECLLM_DATASETS``, ``SECLLM_HOME``).
Each command module imports only what its command needs, inside the command, so start-up stays fast.
"""

from __future__ import annotations

import click

from secllm import __version__
from secllm.cli import (
    adapt,
    ask,
    detect,
    evaluate,
    finetune,
    identify,
    incidents,
    kb,
    learn,
    map,
    models,
    pretrain,
    scan,
    serve,
    sft,
)


@click.group()
@click.version_option(__version__)
def main() -> None:
    """SecLLM: security foundation model toolkit (pretrain, fine-tune, detect)."""


for _cmd in (detect.detect, detect.demo, pretrain.corpus, pretrain.pretrain, finetune.finetune, evaluate.eval_group,
             models.models, learn.learn, learn.profiles, scan.scan, incidents.incidents, serve.serve, adapt.adapt,
             kb.kb, map.map_group, identify.identify, ask.ask, ask.chat, sft.sft):
    main.add_command(_cmd)
