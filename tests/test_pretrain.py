import dataclasses
import json

import pytest
import torch

from secllm.model.modeling import load_mlm, read_meta
from secllm.pretrain.trainer import PretrainConfig, load_optimizer, mask_tokens, pretrain, save_optimizer


def test_masking_follows_bert_rule(tiny_tokenizer):
    ids = torch.randint(len(tiny_tokenizer.special_ids) + 5, tiny_tokenizer.vocab_size, (64, 64))
    ids[:, 0] = tiny_tokenizer.cls_id
    att = torch.ones_like(ids)
    att[:, 50:] = 0
    gen = torch.Generator().manual_seed(0)
    inp, labels = mask_tokens(ids, att, tiny_tokenizer, 0.15, gen)
    chosen = labels != -100
    frac = chosen.float().sum() / (att[:, 1:].sum())
    assert 0.10 < frac < 0.20
    assert not chosen[:, 0].any()            # never a special token
    assert not chosen[:, 50:].any()          # never padding
    masked = (inp == tiny_tokenizer.mask_id) & chosen
    assert 0.7 < masked.sum() / chosen.sum() < 0.9
    assert torch.equal(labels[chosen], ids[chosen])


def test_pretrain_writes_artifact_and_metrics(tiny_base):
    meta = read_meta(tiny_base)
    assert meta["kind"] == "mlm" and meta["pretrain"]["steps"] == 6
    model, tok, cfg, _ = load_mlm(tiny_base)
    assert cfg.name == "tiny" and model.config.vocab_size == tok.vocab_size
    assert (tiny_base / "model.safetensors").exists()
    assert not list(tiny_base.glob("*.bin")) and not list(tiny_base.glob("*.pt"))
    lines = [json.loads(x) for x in (tiny_base.parent / "metrics.jsonl").read_text().splitlines()]
    assert any("loss" in x for x in lines) and any("val_loss" in x for x in lines)


def test_pretraining_reduces_loss(tmp_path, tiny_tokenizer):
    rows = [("payload", "select * from users where id = 1 union select password")] * 64
    cfg = PretrainConfig(size="tiny", steps=40, batch_tokens=1024, warmup=2, lr=3e-3, log_every=5,
                         save_every=1000, eval_every=1000)
    pretrain(rows, tiny_tokenizer, cfg, tmp_path, progress=False)
    losses = [json.loads(x)["loss"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines() if "loss" in x]
    assert losses[-1] < losses[0] * 0.7


def test_resume_continues_from_checkpoint(tmp_path, tiny_tokenizer):
    rows = [("payload", t) for t in ["' or 1=1--", "john smith", "<script>x</script>"]] * 10
    cfg = PretrainConfig(size="tiny", steps=4, batch_tokens=256, warmup=1, save_every=2, log_every=1)
    pretrain(rows, tiny_tokenizer, cfg, tmp_path, progress=False)
    state = json.loads((tmp_path / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 4
    cfg2 = PretrainConfig(size="tiny", steps=7, batch_tokens=256, warmup=1, save_every=2, log_every=1)
    out = pretrain(rows, tiny_tokenizer, cfg2, tmp_path, resume=True, progress=False)
    assert read_meta(out)["pretrain"]["steps"] == 7
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6, 7]      # resumed at 5, not restarted at 1


def test_optimizer_state_round_trip_without_pickle(tmp_path):
    p = torch.nn.Parameter(torch.randn(3, 3))
    opt = torch.optim.AdamW([p], lr=1e-3)
    p.grad = torch.randn(3, 3)
    opt.step()
    save_optimizer(opt, tmp_path / "opt")
    assert (tmp_path / "opt.safetensors").exists() and (tmp_path / "opt.json").exists()
    opt2 = torch.optim.AdamW([torch.nn.Parameter(p.detach().clone())], lr=1e-3)
    load_optimizer(opt2, tmp_path / "opt")
    s1, s2 = opt.state_dict()["state"][0], opt2.state_dict()["state"][0]
    assert torch.equal(s1["exp_avg"], s2["exp_avg"]) and torch.equal(s1["exp_avg_sq"], s2["exp_avg_sq"])


def test_mismatched_tokenizer_is_refused(tmp_path, tiny_base):
    import shutil

    from secllm.tokenizer import train_tokenizer

    d = tmp_path / "m"
    shutil.copytree(tiny_base, d)
    other = train_tokenizer(["completely different corpus text"] * 30, vocab_size=300, min_frequency=1)
    other.save(d)
    with pytest.raises(ValueError, match="does not belong"):
        load_mlm(d)


def test_runs_unchanged_under_accelerate_launch_two_processes(tmp_path, tiny_tokenizer):
    """The same CLI command, launched as 2 CPU processes by `accelerate launch` (DDP over gloo)."""
    import os
    import subprocess
    import sys

    corpus = tmp_path / "corpus" / "train"
    corpus.mkdir(parents=True)
    rows = [{"m": "payload", "t": t} for t in ["' or 1=1--", "john smith", "<script>x</script>", "ls -la /tmp"]] * 20
    (corpus / "corpus.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    tiny_tokenizer.save(tmp_path / "tok")
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "secllm.cli", "pretrain",
           "--corpus", str(tmp_path / "corpus"), "--out", str(out), "--size", "tiny", "--steps", "4",
           "--batch-tokens", "256", "--tokenizer", str(tmp_path / "tok")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    meta = read_meta(out / "model")
    assert meta["pretrain"]["steps"] == 4


def test_continued_pretraining_starts_from_the_given_base(tmp_path, tiny_base, tiny_tokenizer):
    from safetensors.torch import load_file

    rows = [("payload", t) for t in ["' or 1=1--", "john smith", "<script>x</script>", "ls -la /tmp"]] * 8
    cfg = PretrainConfig(size="tiny", steps=3, batch_tokens=256, warmup=1, log_every=1, save_every=100, eval_every=100)
    out = pretrain(rows, tiny_tokenizer, cfg, tmp_path, val_corpus=rows[:8], progress=False, init_dir=tiny_base)
    meta = read_meta(out)
    assert meta["pretrain"]["init"]["dir"] == str(tiny_base)
    assert meta["pretrain"]["init"]["pretrain"]["steps"] == 6         # the given base's own history
    first = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])
    assert first["step"] == 0 and first["init"] == str(tiny_base) and "val_loss" in first
    before, after = load_file(str(tiny_base / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert before.keys() == after.keys()
    # continued, not restarted: a position these short rows never reach keeps the base's embedding
    # (only weight decay touches it)
    pe = "bert.embeddings.position_embeddings.weight"
    assert torch.allclose(before[pe][-1], after[pe][-1], rtol=1e-3, atol=1e-6)
    assert not torch.equal(before["bert.encoder.layer.0.attention.self.query.weight"],
                           after["bert.encoder.layer.0.attention.self.query.weight"])


def test_continued_pretraining_refuses_another_tokenizer(tmp_path, tiny_base):
    from secllm.tokenizer import train_tokenizer

    other = train_tokenizer(["completely different corpus text"] * 30, vocab_size=300, min_frequency=1)
    cfg = PretrainConfig(size="tiny", steps=1, batch_tokens=256, warmup=1)
    with pytest.raises(ValueError, match="needs its own tokenizer"):
        pretrain([("payload", "x y z")] * 4, other, cfg, tmp_path, progress=False, init_dir=tiny_base)


def test_learning_rate_decays_over_the_time_budget():
    from secllm.pretrain.trainer import lr_at

    by_steps = PretrainConfig(lr=1e-3, warmup=10, steps=10_000, max_minutes=1.0)
    by_time = PretrainConfig(lr=1e-3, warmup=10, steps=10_000, max_minutes=1.0, decay_by_time=True)
    assert lr_at(5, by_time, 59.0) == lr_at(5, by_steps, 59.0)             # warm-up is by steps
    assert lr_at(20, by_steps, 60.0) == pytest.approx(lr_at(20, by_steps))  # clock ignored without the flag
    assert lr_at(20, by_steps, 60.0) > 0.99e-3
    assert lr_at(20, by_time, 60.0) == pytest.approx(1e-4)                  # budget spent: the floor (0.1 lr)
    assert lr_at(20, by_time, 30.0) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))


def test_mlm_scores_by_modality_are_repeatable_and_see_training(tmp_path, tiny_tokenizer):
    from secllm.model.config import preset
    from secllm.model.modeling import new_mlm
    from secllm.pretrain.trainer import mlm_scores_by_modality

    rows = [("payload", "select * from users where id = 1 union select password")] * 64
    cfg = PretrainConfig(size="tiny", steps=40, batch_tokens=1024, warmup=2, lr=3e-3, log_every=5,
                         save_every=1000, eval_every=1000)
    trained, _, _, _ = load_mlm(pretrain(rows, tiny_tokenizer, cfg, tmp_path, progress=False))
    torch.manual_seed(0)
    fresh = new_mlm(dataclasses.replace(preset("tiny"), vocab_size=tiny_tokenizer.vocab_size))
    probe = rows[:16] + [("url", "http://example.com/a?b=1")] * 8
    s1 = mlm_scores_by_modality(trained, tiny_tokenizer, probe)
    assert s1 == mlm_scores_by_modality(trained, tiny_tokenizer, probe)
    assert set(s1) == {"payload", "url"} and s1["payload"]["rows"] == 16 and s1["payload"]["masked_tokens"] > 0
    s0 = mlm_scores_by_modality(fresh, tiny_tokenizer, probe)
    assert s1["payload"]["loss"] < s0["payload"]["loss"] and s1["payload"]["accuracy"] > s0["payload"]["accuracy"]
