"""`secllm learn` and `secllm profiles`: learning mode (site and system profiles)."""

from __future__ import annotations

import json

import click


@click.command()
@click.option("--profile", "name", required=True, help="Profile name (stored under $SECLLM_HOME/profiles/NAME).")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["auto", "http", "access-log", "urls", "jsonl", "log", "sessions",
                                                    "strace", "syscalls"]),
              default="auto", show_default=True,
              help="Input format (auto: per file, from name and first line). log: one log line per item; "
                   "sessions: one session (space-separated event keys) per line, or log lines grouped by "
                   "--session-key; strace: `strace -f` output (one trace per process); syscalls: system-call "
                   "number lists (one trace per line, or per file).")
@click.option("--fpr", default=0.01, show_default=True, type=float,
              help="False-positive rate on the held-back normal traffic that sets the threshold.")
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False), default=None,
              help="Fine-tuned detector for the density model and the combined score (default: the shipped model).")
@click.option("--no-model", is_flag=True, help="Structure model only (no detector, no embeddings).")
@click.option("--calibrate-fraction", default=0.2, show_default=True, type=float,
              help="Last fraction of the items (in order) held back to set the threshold.")
@click.option("--combine", type=click.Choice(["max", "fisher"]), default="max", show_default=True,
              help="How component p-values combine: strongest signal (max) or Fisher's method.")
@click.option("--text-field", default="text", show_default=True, help="JSONL field holding the item.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write the profile here instead of $SECLLM_HOME/profiles/NAME.")
@click.option("--force", is_flag=True, help="Replace an existing profile of that name.")
@click.option("--session-key", default=None,
              help="sessions: group log lines into sessions by this key: block, session, pid, user or a regex "
                   "(its first group is the key).")
@click.option("--strace-split", type=click.Choice(["process", "thread", "none"]), default="process",
              show_default=True, help="strace: one trace per process, per thread, or per file.")
@click.option("--syscall-abi", type=click.Choice(["x86_64", "i386"]), default=None,
              help="strace: learn system-call numbers of this ABI instead of names (to score number lists).")
@click.option("--seq-models", default="kn-3,kn-5,kn-8", show_default=True,
              help="sessions/strace/syscalls: language models to choose from on the held-back normal sequences "
                   "(kn-N, lstm, transformer).")
def learn(name, files, fmt, fpr, model_dir, no_model, calibrate_fraction, combine, text_field, out_dir, force,
          session_key, strace_split, syscall_abi, seq_models):
    """Learn a site (or system) profile from normal traffic in FILES, without labels.

    The first items (in file order) are learned; the last --calibrate-fraction set the decision
    threshold at --fpr. Use it with `secllm detect --profile NAME`.
    """
    from secllm.profile import ProfileError, learn_profile
    from secllm.profile.inputs import SEQUENCE_FORMATS, read_learning_items, read_sequences

    if session_key and fmt != "sessions":
        raise click.UsageError("--session-key groups log lines into sessions: use it with --format sessions")
    try:
        if fmt in SEQUENCE_FORMATS:
            opts = {"session_key": session_key, "split": strace_split, "abi": syscall_abi}
            _, items = read_sequences(files, fmt, **opts)
            prof = learn_profile(items, name, out_dir=out_dir, calibrate_fraction=calibrate_fraction, fpr=fpr,
                                 fmt=fmt, overwrite=force, input_options=opts,
                                 sequence_models=tuple(x.strip() for x in seq_models.split(",") if x.strip()))
        else:
            items, learn_fmt = read_learning_items(files, fmt, text_field=text_field)
            prof = learn_profile(items, name, out_dir=out_dir, model_dir=model_dir,
                                 calibrate_fraction=calibrate_fraction, fpr=fpr, fmt=learn_fmt, combine=combine,
                                 use_model=not no_model, overwrite=force)
    except (ProfileError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    m = prof.meta
    if prof.kind == "sequence":
        click.echo(f"profile {name!r}: {prof.path}  (sequences; learned {m['n_learn']}, calibrated on "
                   f"{m['n_calibrate']}, skipped {m['n_skipped']}; model {m['why']}; {m['learn_seconds']:.1f}s)")
        for note in m.get("notes", []):
            click.echo(f"note: {note}", err=True)
        return
    click.echo(f"profile {name!r}: {prof.path}  ({prof.kind}; learned {m['n_learn']}, calibrated on "
               f"{m['n_calibrate']}, skipped {m['n_skipped']}; components {', '.join(sorted(prof.calibrators))}; "
               f"{m['learn_seconds']:.1f}s)")
    for note in m.get("notes", []):
        click.echo(f"note: {note}", err=True)


@click.group()
def profiles():
    """List, show and remove learned profiles."""


@profiles.command("list")
@click.option("--json", "out_json", is_flag=True, help="JSON output.")
def profiles_list(out_json):
    """The profiles under $SECLLM_HOME/profiles."""
    from secllm.profile import list_profiles, profiles_dir

    rows = list_profiles()
    if out_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no profiles in {profiles_dir()}; learn one with `secllm learn --profile NAME FILE...`")
        return
    for r in rows:
        click.echo(f"{r['name']}\t{r.get('kind')}\tlearned {r.get('n_learn')}\tcalibrated {r.get('n_calibrate')}"
                   f"\tfpr {r.get('fpr')}\t{r.get('created')}")


@profiles.command("show")
@click.argument("name")
def profiles_show(name):
    """A profile's summary as JSON: sizes, thresholds, endpoints or log templates."""
    from secllm.profile import ProfileError, load_profile

    try:
        prof = load_profile(name)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(json.dumps(prof.summary(), indent=2, ensure_ascii=False, default=str))


@profiles.command("remove")
@click.argument("name")
def profiles_remove(name):
    """Delete a profile."""
    from secllm.profile import ProfileError, remove_profile

    try:
        d = remove_profile(name)
    except ProfileError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"removed {d}")


@profiles.command("score")
@click.argument("name")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--format", "fmt", type=click.Choice(["auto", "http", "access-log", "urls", "jsonl", "log", "sessions",
                                                    "strace", "syscalls"]),
              default="auto", show_default=True,
              help="Input format (as for `secllm learn`; a sequence profile reads files as it learned them).")
@click.option("--model", "model_dir", type=click.Path(file_okay=False), default=None,
              help="Detector directory if the one recorded in the profile moved (same weights).")
@click.option("--all", "all_items", is_flag=True, help="Print every item, not only anomalous ones.")
def profiles_score(name, files, fmt, model_dir, all_items):
    """Score FILES against a profile (web or log): one JSON result per anomalous item."""
    from secllm.data.bounded import json_line
    from secllm.profile import ProfileError, ProfileScorer
    from secllm.profile.inputs import SEQUENCE_FORMATS, read_learning_items, read_sequences

    try:
        scorer = ProfileScorer.load(name, model_dir=model_dir)
        prof = scorer.profile
        if prof.kind == "sequence":
            # read the files the way the profile was learned, unless --format says otherwise
            sfmt = fmt if fmt in SEQUENCE_FORMATS else prof.meta.get("input_format", "sessions")
            if fmt not in ("auto", *SEQUENCE_FORMATS):
                raise click.UsageError(f"profile {name!r} scores sequences: use --format sessions, strace or syscalls")
            ids, items = read_sequences(files, sfmt, **(prof.meta.get("input_options") or {}))
        else:
            items, _ = read_learning_items(files, fmt)
            ids = [str(i + 1) for i in range(len(items))]
    except (ProfileError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    n_anom = 0
    for start in range(0, len(items), 512):
        chunk = items[start:start + 512]
        for r in scorer.score(chunk, ids=ids[start:start + 512]):
            n_anom += r.verdict == "anomalous"
            if all_items or r.verdict == "anomalous":
                click.echo(json_line(r.to_json()))
    click.echo(f"summary: {len(items)} items, {n_anom} anomalous", err=True)
