"""Windows event → ATT&CK tactic (EVTX-ATTACK-SAMPLES), split by source ``.evtx`` file.

Labels are per file (the folder the sample sits in), so every event of a file carries the
file's tactic, background events included: a noisy label by construction. The split is a group
split by file (80/10/10, seed 0; ``secllm.data.sources.evtx_attack``): events of one recording
never sit on both sides.

The model reads a compacted event XML: the schema namespace, GUIDs, record ids, process/thread
ids, timestamps and the computer name are removed or masked. They identify the *recording* (one
lab machine, one session) rather than the behaviour, i.e. exactly the shortcut a file-grouped
split is meant to expose; the provider, event id, channel and event data stay.

    >>> SPECS[0].prepare('<Event xmlns="x"><System><EventRecordID>6575</EventRecordID>'
    ...   '<Computer>IEWIN7</Computer></System><EventData><Data Name="Image">C:\\\\a.exe</Data>'
    ...   '<Data Name="UtcTime">2019-04-27 15:57:25.868</Data></EventData></Event>')
    '<Event><System><Computer>host</Computer></System><EventData><Data Name="Image">C:\\\\a.exe</Data><Data Name="UtcTime">time</Data></EventData></Event>'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from secllm.tasks.registry import TaskSpec, finalize_splits, group_from_source, prepare_text, splits_from_records

LABELS = ("Command and Control", "Lateral Movement", "Privilege Escalation", "AutomatedTestingTools", "Other",
          "Credential Access", "Execution", "Defense Evasion", "Persistence", "Discovery")
HEAD_CHARS = 8192

_DROP = re.compile(
    r"\s*<(TimeCreated|EventRecordID|Correlation|Execution|Security|Version|Opcode|Keywords|Task|Level)\b"
    r"[^>]*?(?:/>|>[^<]*</\1>)")
_SUBS = [
    (re.compile(r'\s+xmlns(?::\w+)?="[^"]*"'), ""),
    (re.compile(r'\s+(?:Guid|Qualifiers|ActivityID|RelatedActivityID)="[^"]*"'), ""),
    (re.compile(r"<Computer>[^<]*</Computer>"), "<Computer>host</Computer>"),
    (re.compile(r"\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?"), "guid"),
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d|Z)?"), "time"),
    (re.compile(r'(<Data Name="(?:ProcessId|ParentProcessId|ThreadId|SourceProcessId|TargetProcessId|'
                r'SourceThreadId|LogonId|TargetLogonId|SubjectLogonId|NewProcessId|ProcessID)">)[^<]*(</Data>)'),
     r"\1id\2"),
    (re.compile(r">\s+<"), "><"),
]


def compact_event(xml: str) -> str:
    """Drop per-recording fields (see the module doc) and the whitespace between tags."""
    s = _DROP.sub("", xml[:HEAD_CHARS])
    for pat, rep in _SUBS:
        s = pat.sub(rep, s)
    return s.strip()


def prep(text: str) -> str:
    return prepare_text(compact_event(text), "evtx")


def load(root: Path) -> dict[str, Any]:
    from secllm.data.sources import evtx_attack

    rows, dropped = splits_from_records(evtx_attack(root), prep,
                                        source_fn=lambda r: f"{r.source}:{r.group}")
    out = finalize_splits(rows, modality="evtx")
    out["_info"]["dropped"]["read"] = dict(dropped)
    return out


SPECS = [TaskSpec(
    name="evtx-tactic", modality="evtx", labels=LABELS, benign_label=None, loader=load,
    group_of=group_from_source, group_unit="source file",
    split_rule="EVTX-ATTACK-SAMPLES events: group split by source .evtx file 80/10/10 (seed 0); events "
               "compacted (per-recording ids, times, host names removed); prepared duplicates dropped within "
               "splits and from val/test when in train",
    baselines=("tfidf-lr", "tfidf-word-lr"), prepare=prep, input_kind="text", max_item_chars=1 << 20,
    description="Windows event (XML) → ATT&CK tactic of the recording",
    caveats=("labels are per file: background events carry the file's tactic (label noise)",
             "no benign corpus: there is no binary malicious/benign view",
             "AutomatedTestingTools and Other are folders, not tactics"),
)]
