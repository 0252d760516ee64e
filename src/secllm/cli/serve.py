"""`secllm serve`: the REST API."""

from __future__ import annotations

import click

from secllm.cli.common import csv_list


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback needs an API key.")
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--model", "model_dir", envvar="SECLLM_MODEL", type=click.Path(file_okay=False),
              help="Fine-tuned model directory (default: the shipped model).")
@click.option("--backend", type=click.Choice(["auto", "torch", "onnx", "onnx-int8"]), default="auto",
              show_default=True, help="auto: ONNX when the model directory has an export, else torch.")
@click.option("--api-key", "api_keys", multiple=True,
              help="Accepted API key (repeatable). Prefer SECLLM_API_KEYS=k1,k2: arguments show in `ps`.")
@click.option("--max-body-bytes", default=1_000_000, show_default=True)
@click.option("--max-batch", default=1000, show_default=True, help="Most items per request.")
@click.option("--threads", type=int, default=None, help="CPU threads for the model.")
@click.option("--tasks", "tasks_", default="all", show_default=True,
              help="Tasks to serve, comma-separated; 'all' = web-attack and every task adapter found.")
@click.option("--tasks-model", "tasks_dir", type=click.Path(file_okay=False), default=None,
              help="The other tasks: a multi-task directory (shared base + adapters; PyTorch) or a folder of "
                   "exported task models (`secllm models export --task all --out DIR`; ONNX Runtime only) "
                   "(default: the shipped base + adapters, or --model's own adapters).")
@click.option("--no-cascade", is_flag=True, help="Web attacks: every part through the full model.")
@click.option("--allow-host", "allow_hosts", multiple=True,
              help="Host name this server answers to besides localhost/127.0.0.1/::1 and --host (repeatable; "
                   "checked against the Host header when no API key is set: DNS rebinding).")
@click.option("--max-connections", default=2048, show_default=True, type=click.IntRange(1),
              help="Open connections; beyond it, connections still waiting for a request head are evicted.")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Seconds a client has to send its request line and headers (then 408).")
@click.option("--body-timeout", default=30.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Seconds a client has to send a request body once its headers are in (then 408).")
@click.option("--keep-alive-timeout", default=5, show_default=True, type=click.IntRange(1),
              help="Seconds an idle keep-alive connection stays open.")
def serve(host, port, model_dir, backend, api_keys, max_body_bytes, max_batch, threads, tasks_, tasks_dir, no_cascade,
          allow_hosts, max_connections, header_timeout, body_timeout, keep_alive_timeout):
    """Start the REST API (FastAPI/uvicorn): /v1/detect, /v1/tasks, /v1/models, /health, /metrics, /docs.

    Limits and a production deployment (nginx in front): docs/serving.md.
    """
    from secllm.serve.app import check_bind, create_app, keys_from_env
    from secllm.serve.server import ServerLimits
    from secllm.serve.server import serve as run_server

    keys = list(api_keys) or keys_from_env()
    try:
        check_bind(host, keys)
        # Host check: always without keys (loopback only: DNS rebinding), with keys when names are given
        hosts = [*allow_hosts, *([host] if host not in ("0.0.0.0", "::", "") else [])]
        app = create_app(model_dir, backend=backend, api_keys=keys, max_body_bytes=max_body_bytes,
                         max_batch=max_batch, threads=threads,
                         tasks=None if tasks_ == "all" else list(csv_list(tasks_)), tasks_dir=tasks_dir,
                         allowed_hosts=hosts if (allow_hosts or not keys) else None)
        limits = ServerLimits(max_connections=max_connections, header_timeout=header_timeout,
                              body_timeout=body_timeout, keep_alive_timeout=keep_alive_timeout)
        if "web-attack" in app.state.detectors:
            app.state.detectors["web-attack"].cascade = not no_cascade
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc

    dets = app.state.detectors
    served = ", ".join(f"{t} ({det.backend.name})" for t, det in dets.items())
    click.echo(f"serving http://{host}:{port} (model {next(iter(dets.values())).model_dir.name}; tasks: {served}; "
               f"API keys: {'on' if keys else 'off'}; docs at /docs)", err=True)
    # uvicorn's own access log is off: the app writes a desensitised JSON one
    run_server(app, host, port, limits, log=lambda msg: click.echo(msg, err=True))
