"""Sequence-mode learning: readers (strace, number lists, key sessions), STIDE, Kneser-Ney, the neural LM,
the sequence profile (threshold at the stated FPR, evidence, artifacts) and the CLI. Tiny synthetic data
and one small committed ``strace -f`` recording (tests/fixtures/strace_f_small.txt)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from secllm.cli import main
from secllm.data.sequences import (parse_number_lists, parse_strace, sessions_by_key, syscall_numbers,
                                   syscall_table)
from secllm.profile import ProfileScorer, learn_profile, load_profile
from secllm.profile.inputs import read_sequences
from secllm.profile.sequence import KneserNeyLM, SequenceModel, StideModel
from secllm.profile.vocab import Vocab

FIXTURE = Path(__file__).parent / "fixtures" / "strace_f_small.txt"

# a "program": a loop of a few call patterns, with random repeats (a Markov-like normal behaviour)
_BLOCKS = [["openat", "fstat", "read", "read", "close"], ["mmap", "mprotect", "munmap"],
           ["socket", "connect", "sendto", "recvfrom", "close"], ["getpid", "write"], ["brk", "brk"]]


def normal_trace(rng: random.Random, n_blocks: int = 30) -> list[str]:
    ev = ["execve", "brk", "arch_prctl"]
    for _ in range(n_blocks):
        b = rng.choices(range(len(_BLOCKS)), weights=[5, 2, 2, 3, 1])[0]
        ev += _BLOCKS[b] * rng.randint(1, 2)
    return ev + ["exit_group"]


def normals(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    return [normal_trace(rng, rng.randint(10, 40)) for _ in range(n)]


# ------------------------------------------------------------------------------------------------
# Readers
# ------------------------------------------------------------------------------------------------

def test_strace_fixture_processes_threads_unfinished_resumed():
    traces = parse_strace(FIXTURE.read_text(), source="fx")
    by = {t.pid: t for t in traces}
    # sh forked sleep, two pipeline members and (vfork) python; python's thread joined its process
    assert sorted(by) == [11927, 11928, 11929, 11930, 11935]
    assert {p: by[p].parent for p in by} == {11927: None, 11928: 11927, 11929: 11927, 11930: 11927, 11935: 11927}
    assert by[11927].exe == "/usr/bin/sh" and by[11930].exe == "/usr/bin/cat"
    threads = {t.pid: t for t in parse_strace(FIXTURE.read_text(), split="thread")}
    assert 11936 in threads and len(by[11935].events) == len(threads[11935].events) + len(threads[11936].events)
    text = FIXTURE.read_text().splitlines()
    calls = [ln for ln in text if not ln.split(None, 1)[1].startswith(("<...", "---", "+++"))]
    # one event per call: an unfinished call counts once, its resumed line never; signals are no events
    assert sum(len(t.events) for t in traces) == len(calls)
    assert "SIGCHLD" not in by[11927].events and "SIGCHLD" in parse_strace(FIXTURE.read_text(), signals=True)[0].events
    assert by[11927].events.count("clone") == 3 and by[11927].events.count("vfork") == 1
    whole = parse_strace(FIXTURE.read_text(), split="none")
    assert len(whole) == 1 and len(whole[0].events) == len(calls)


def test_strace_prefix_styles():
    text = ("[pid  7] 12:00:01.000001 openat(AT_FDCWD, \"/x\", O_RDONLY) = 3 <0.000010>\n"
            "12:00:01.000002 read(3, \"ab\", 2) = 2\n"
            "strace: Process 7 attached\n"
            "[pid  7] write(1, \"x\", 1 <unfinished ...>\n"
            "[pid  7] <... write resumed>) = 1\n"
            "[pid  7] syscall_0x1b3(0x1, 0x2) = -1 ENOSYS (Function not implemented)\n"
            "+++ exited with 0 +++\n")
    traces = {t.pid: t.events for t in parse_strace(text)}
    assert traces == {7: ["openat", "write", "syscall_0x1b3"], 0: ["read"]}
    assert syscall_numbers(traces[7]) == ["257", "1", "435"]
    assert syscall_table("i386")["open"] == 5 and syscall_table("x86_64")["open"] == 2
    with pytest.raises(ValueError, match="split"):
        parse_strace(text, split="bogus")


def test_number_lists_and_key_sessions():
    assert parse_number_lists("6 6 63\n\n3, 4,5 \n") == [["6", "6", "63"], ["3", "4", "5"]]
    assert parse_number_lists("6\n6\n63\n") == [["6", "6", "63"]]
    with pytest.raises(ValueError, match="token 'open'"):
        parse_number_lists("1 2 open\n")
    lines = ["081109 INFO Receiving block blk_-1 src: /10.0.0.1:50010", "sshd[42]: Accepted password for bob from x",
             "081109 INFO PacketResponder 1 for block blk_7 terminating", "081109 INFO Deleting block blk_-1 file x",
             "no key here"]
    s, skipped = sessions_by_key(lines, "block")
    assert [k for k, _ in s] == ["blk_-1", "blk_7"] and len(s[0][1]) == 2 and skipped == 2
    assert sessions_by_key(lines, "pid")[0][0][0] == "42"
    assert sessions_by_key(lines, "user")[0][0][0] == "bob"
    assert sessions_by_key(lines, r"src: /([\d.]+)")[0] == [("10.0.0.1", [lines[0]])]
    with pytest.raises(ValueError, match="regular expression"):
        sessions_by_key(lines, "(unclosed")


def test_read_sequences_formats(tmp_path):
    (tmp_path / "a.txt").write_text("1 2 3\n4 5\n")
    (tmp_path / "b.txt").write_text("7\n8\n9\n")
    ids, seqs = read_sequences([tmp_path / "a.txt", tmp_path / "b.txt"], "syscalls")
    assert seqs == [["1", "2", "3"], ["4", "5"], ["7", "8", "9"]]
    assert ids[0].endswith("a.txt:1") and ids[2].endswith("b.txt")
    ids, seqs = read_sequences([FIXTURE], "strace", abi="x86_64")
    assert len(seqs) == 5 and ids[0].endswith(":11927") and seqs[0][0] == "59"          # execve on x86_64
    (tmp_path / "log.txt").write_text("open blk_1 from 10.0.0.1\nopen blk_2 from 10.0.0.2\nclose blk_1 ok\n")
    ids, seqs = read_sequences([tmp_path / "log.txt"], "sessions", session_key="block")
    assert ids == ["blk_1", "blk_2"] and seqs[0] == ["open <id> from <ip>", "close <id> ok"]
    with pytest.raises(ValueError, match="--format strace"):
        read_sequences([FIXTURE], "syscalls")


# ------------------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------------------

def test_kneser_ney_is_a_distribution():
    seqs = [np.array(s) for s in ([4, 5, 6, 4, 5, 7, 4, 5, 6], [6, 6, 5, 4], [7, 4, 5, 6, 8])]
    lm = KneserNeyLM(3).fit(seqs, vocab_size=10)
    for hist in ([4, 5], [6, 6], [9, 9], []):              # seen, seen, never seen, start
        probs = [np.exp(-lm.token_nll(np.array(hist + [w]))[len(hist)]) for w in range(10)]
        assert abs(sum(probs) - 1.0) < 1e-9, (hist, sum(probs))
    # a frequent continuation is likelier than a rare one, an unseen event likelier than nothing
    nll = lambda h, w: lm.token_nll(np.array(h + [w]))[len(h)]   # noqa: E731
    assert nll([4, 5], 6) < nll([4, 5], 7) < nll([4, 5], 9) < 30


def test_stide_and_vocab():
    v = Vocab.build([["a", "b", "c", "a", "b", "c"]])
    m = StideModel(3).fit([v.encode(["a", "b", "c", "a", "b", "c"])], len(v))
    assert m.unseen(v.encode(["a", "b", "c"])).sum() == 0
    flags = m.unseen(v.encode(["a", "b", "c", "c", "a", "b"]))
    assert flags.tolist() == [False, False, False, True, True, False, True]   # b c c, c c a, a b </s>
    assert v.encode(["zzz"]).tolist() == [1]


def test_inserted_foreign_window_raises_score_and_is_evidence():
    learn, held = normals(120, 0), normals(60, 1)
    m = SequenceModel(candidates=("kn-3", "kn-5")).fit(learn, held)
    base = normal_trace(random.Random(7), 40)
    foreign = ["setuid", "dup2", "dup2", "execve", "connect"]          # a reverse shell's signature
    shuffled = ["read", "openat", "close", "close", "fstat"]           # known events, unknown order
    mid = len(base) // 2
    clean, odd, reordered = m.score([base, base[:mid] + foreign + base[mid:], base[:mid] + shuffled + base[mid:]])
    assert odd.score > clean.score and reordered.score > clean.score
    top = odd.windows[0]
    assert top["start"] < mid + len(foreign) and top["end"] > mid                    # the window covers the insert
    assert set(foreign) & set(top["events"]) and top["unseen"] > 0
    assert sorted(odd.unknown_events) == ["dup2", "setuid"] and not reordered.unknown_events
    text = " ".join(m.describe(odd))
    assert "never seen in learning" in text and "surprise" in text and "dup2" in text


def test_model_choice_uses_heldout_likelihood():
    learn, held = normals(80, 2), normals(40, 3)
    m = SequenceModel(candidates=("kn-2", "kn-5")).fit(learn, held)
    sel = {r["model"]: r["heldout_nats_per_event"] for r in m.selection_}
    assert m.model_name_ == min(sel, key=sel.get) and m.model_name_ in m.why and str(len(held)) in m.why


@pytest.mark.parametrize("arch", ["lstm", "transformer"])
def test_neural_lm_learns_and_round_trips(arch):
    from secllm.profile.seqlm import NeuralLM

    v = Vocab.build(normals(30, 4))
    seqs = [v.encode(s) for s in normals(30, 4)]
    lm = NeuralLM(arch, steps=40, hidden=16, embed=8, heads=2, context=16, chunk=16, batch=8).fit(seqs, len(v))
    nll = lm.batch_nll(seqs[:3])
    assert [len(x) for x in nll] == [len(s) + 1 for s in seqs[:3]]
    again = NeuralLM.from_tensors(lm.config_json(), lm.tensors()).batch_nll(seqs[:3])
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(nll, again))
    # trained, it finds the normal sequences likelier than a uniform guess
    assert float(np.mean([x.mean() for x in nll])) < np.log(len(v))
    with pytest.raises(TypeError):
        NeuralLM.from_tensors({**lm.config_json(), "bogus": 1}, lm.tensors())


# ------------------------------------------------------------------------------------------------
# The sequence profile
# ------------------------------------------------------------------------------------------------

def test_threshold_meets_stated_fpr_on_heldback_normals(tmp_path):
    items = [" ".join(s) for s in normals(500, 5)]
    prof = learn_profile(items, "seq", out_dir=tmp_path / "p", fmt="sessions", fpr=0.05, calibrate_fraction=0.4,
                         sequence_models=("kn-3",))
    assert prof.kind == "sequence" and prof.meta["n_calibrate"] == 200
    scorer = ProfileScorer(prof)
    # on the held-back normals themselves: at most 5% flagged (the threshold's definition)
    cal = scorer.score(items[300:])
    assert sum(r.verdict == "anomalous" for r in cal) <= 10
    # on fresh normals from the same behaviour: close to the stated rate (binomial slack)
    fresh = scorer.score([" ".join(s) for s in normals(400, 99)])
    assert sum(r.verdict == "anomalous" for r in fresh) / 400 < 0.10
    odd = scorer.score(["execve brk arch_prctl setuid dup2 dup2 execve connect exit_group", ""])
    assert odd[0].verdict == "anomalous" and odd[0].evidence and odd[1].status == "bad_input"


def test_profile_save_load_round_trip(tmp_path):
    items = [s for s in normals(200, 6)]
    prof = learn_profile(items, "rt", out_dir=tmp_path / "p", fmt="syscalls", sequence_models=("kn-3", "kn-5"))
    files = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert files == ["profile.json", "sequence.safetensors"]
    doc = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert doc["sequence"]["model"] == prof.meta["sequence_model"] and "held-back" in doc["why"]
    loaded = load_profile(tmp_path / "p")
    probe = normals(5, 8) + [["execve", "ptrace", "ptrace", "exit_group"]]
    a, b = ProfileScorer(prof).score(probe), ProfileScorer(loaded).score(probe)
    assert [(r.score, r.verdict, r.evidence) for r in a] == [(r.score, r.verdict, r.evidence) for r in b]
    assert loaded.summary()["sequence_model"]["model"] == prof.sequence.model_name_


def test_session_profile_hdfs_like(tmp_path):
    rng = random.Random(0)
    patterns = [["5", "5", "22", "11", "9", "11", "9", "26", "26"], ["5", "22", "5", "11", "9", "26"],
                ["22", "5", "5", "11", "9", "11", "9", "26", "26", "26"]]
    sessions = [" ".join(rng.choice(patterns)) for _ in range(300)]
    scorer = ProfileScorer(learn_profile(sessions, "sess", out_dir=tmp_path / "s", fmt="sessions"))
    res = scorer.score(["5 5 22 11 9 11 9 26 26", "5 5 22 11 9 23 26", "5 26 22 11", "5 " * 40])
    assert [r.verdict for r in res] == ["normal", "anomalous", "anomalous", "anomalous"]
    assert "`23`" in res[1].evidence[0]
    assert res[2].sequence["windows"][0]["events"][:2] == ["5", "26"]


# ------------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------------

def test_cli_learn_and_score_syscalls_and_strace(tmp_path, monkeypatch):
    monkeypatch.setenv("SECLLM_HOME", str(tmp_path / "home"))
    learn = tmp_path / "learn"
    learn.mkdir()
    for i, s in enumerate(normals(60, 9)):
        (learn / f"t{i:03d}.txt").write_text(" ".join(syscall_numbers(s)) + "\n")
    run = CliRunner()
    r = run.invoke(main, ["learn", "--profile", "host", "--format", "syscalls", "--seq-models", "kn-3,kn-5",
                          *map(str, sorted(learn.iterdir()))])
    assert r.exit_code == 0, r.output
    assert "sequences; learned 48, calibrated on 12" in r.output and "lowest surprise" in r.output
    odd = tmp_path / "odd.txt"
    odd.write_text(" ".join(syscall_numbers(["execve", "brk", "setuid", "dup2", "dup2", "execve", "connect"])) + "\n")
    r = run.invoke(main, ["profiles", "score", "host", "--all", str(odd), str(learn / "t000.txt")])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.output.splitlines() if x.startswith("{")]
    assert rows[0]["id"] == str(odd) and rows[0]["verdict"] == "anomalous" and rows[0]["sequence"]["windows"]
    assert rows[0]["deviation"] > rows[1]["deviation"]
    r = run.invoke(main, ["profiles", "show", "host"])
    assert r.exit_code == 0 and json.loads(r.output)["sequence_model"]["model"].startswith("kn-")
    # strace output: learn names, score the fixture (a process tree it never saw)
    st = tmp_path / "st"
    st.mkdir()
    for i, s in enumerate(normals(40, 10)):
        (st / f"s{i}.txt").write_text("".join(f"{100 + i} {e}(0) = 0\n" for e in s))
    r = run.invoke(main, ["learn", "--profile", "st", "--format", "strace", *map(str, st.iterdir())])
    assert r.exit_code == 0, r.output
    r = run.invoke(main, ["profiles", "score", "st", str(FIXTURE)])
    assert r.exit_code == 0 and "5 items, 5 anomalous" in r.output, r.output
    r = run.invoke(main, ["learn", "--profile", "x", "--format", "strace", "--session-key", "block", str(FIXTURE)])
    assert r.exit_code != 0 and "--session-key" in r.output and "Traceback" not in r.output


def test_repetition_attack_is_caught_by_counts():
    # a guessing loop: a normal request block repeated far more often than any learned sequence does;
    # every window of it is familiar, so only the count statistics can tell
    learn, held = normals(120, 11), normals(60, 12)
    m = SequenceModel(candidates=("kn-3",)).fit(learn, held)
    loop = ["execve", "brk", "arch_prctl"] + _BLOCKS[2] * 150 + ["exit_group"]
    r = m.score([loop])[0]
    ps = m.pvalues(r.features)
    assert ps["counts"] < 0.05 and ps["counts"] == min(ps.values()) and ps["unseen"] > 0.5
    assert any("occurs 150 times" in e for e in m.describe(r))
    no_counts = SequenceModel(candidates=("kn-3",), features=("mean", "window", "unseen")).fit(learn, held)
    assert no_counts.score([loop])[0].p > r.p
