"""``POST /v1/incidents``: correlate a batch of findings and alerts into incidents.

Body::

    {"findings": [<scan finding> | <Suricata EVE record> | <Wazuh alert> | <ModSecurity JSON transaction>
                  | {"time", "name", "ip", "host", ...}],
     "format": "json" | "markdown" | "html" | "stix",      # default json
     "quiet": 1800, "min_score": 10, "noise": "two-pass" | "online" | "off"}

Answers ``{"incidents": [...], "stats": {...}, "errors": [...]}`` (``json``), ``{"markdown": "..."}``,
``{"html": "..."}`` or ``{"bundle": {...}}`` (STIX 2.1). The app's guard applies as to every route
(API key, body-size precheck, request id); errors have the same JSON shape as ``/v1/detect``'s.
Items that are not alerts (an EVE flow record) are skipped, unreadable ones reported in ``errors``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool


class IncidentsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    findings: list[dict[str, Any]] = Field(min_length=1, description="scan findings and/or SOC alerts, any mix")
    format: Literal["json", "markdown", "html", "stix"] = "json"
    quiet: float = Field(1800.0, gt=0, description="seconds without activity before an incident closes")
    min_score: float = Field(10.0, ge=0, description="evidence an incident needs to be reported")
    noise: Literal["two-pass", "online", "off"] = "two-pass"


def _error(request: Request, status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    rid = getattr(request.state, "request_id", None)
    return JSONResponse({"error": {"code": code, "message": message, **extra}, "request_id": rid},
                        status_code=status)


def correlate_objects(req: IncidentsRequest) -> dict[str, Any]:
    """The work of the route, off the event loop: objects -> findings -> incidents -> the format asked."""
    from secllm.incidents import Correlator, CorrelatorConfig, Finding, NoiseModel, finding_from_object, merge_by_time
    from secllm.incidents import render_html, render_markdown, to_stix

    findings: list[Finding] = []
    errors: list[dict[str, str]] = []
    for k, obj in enumerate(req.findings):
        fid = str(obj.get("id", k)) if isinstance(obj.get("id"), (str, int)) else str(k)
        try:
            f = finding_from_object(obj, fid)
        except (TypeError, ValueError, AttributeError) as exc:
            errors.append({"index": str(k), "error": f"unreadable item: {type(exc).__name__}"})
            continue
        if f is not None:
            findings.append(f)
    # a batch need not be sorted: order by time (untimed items keep their place)
    findings = list(merge_by_time([sorted(findings, key=lambda f: f.time if f.time is not None else float("-inf"))]))
    model = NoiseModel()
    if req.noise == "two-pass":
        for f in findings:
            if f.kind == "alert":
                model.observe(f)
        model.finish()
    c = Correlator(CorrelatorConfig(quiet=req.quiet, min_score=req.min_score), model,
                   learn_noise=req.noise == "online", noise_kinds=() if req.noise == "off" else ("alert",))
    incidents = []
    for f in findings:
        incidents += c.add(f)
    incidents += c.flush()
    out = sorted((i.to_json() for i in incidents), key=lambda d: d["first_seen"] or "")
    if req.format == "markdown":
        return {"markdown": render_markdown(out)}
    if req.format == "html":
        return {"html": render_html(out)}
    if req.format == "stix":
        return {"bundle": json.loads(to_stix(out).serialize())}
    return {"incidents": out, "stats": c.stats.to_json(), "errors": errors[:20]}


def incident_router(*, max_body_bytes: int, max_items: int) -> APIRouter:
    """The route, with the app's body and batch limits."""
    router = APIRouter()
    schema = IncidentsRequest.model_json_schema()

    @router.post("/v1/incidents", tags=["incidents"], openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": schema}}}})
    async def incidents(request: Request) -> JSONResponse:
        """Correlate findings and alerts into incidents (JSON, Markdown, HTML or a STIX 2.1 bundle)."""
        chunks, size = [], 0
        async for chunk in request.stream():          # chunked bodies have no length: count as they come
            size += len(chunk)
            if size > max_body_bytes:
                return _error(request, 413, "body_too_large", f"request body over {max_body_bytes} bytes; "
                              "send fewer findings per request")
            chunks.append(chunk)
        try:
            obj = json.loads(b"".join(chunks).decode("utf-8"))
        except UnicodeDecodeError:
            return _error(request, 400, "invalid_utf8", "request body is not UTF-8")
        except json.JSONDecodeError as exc:
            return _error(request, 400, "invalid_json", f"request body is not JSON: {exc.msg}")
        if isinstance(obj, dict) and isinstance(obj.get("findings"), list) and len(obj["findings"]) > max_items:
            return _error(request, 422, "batch_too_large", f"{len(obj['findings'])} findings > limit {max_items}; "
                          "split the batch", limit=max_items)
        try:
            req = IncidentsRequest.model_validate(obj)
        except ValidationError as exc:
            details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
            return _error(request, 422, "invalid_request", "request does not match the schema (see details and "
                          "/docs)", details=details)
        result = await run_in_threadpool(correlate_objects, req)
        log = getattr(request.state, "log", None)
        if isinstance(log, dict):
            log.update({"findings": len(req.findings), "incidents": len(result.get("incidents", []))})
        return JSONResponse(result)

    return router
