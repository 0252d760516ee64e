"""The REST API: ``secllm serve`` (FastAPI + uvicorn) over the same detectors as the CLI.

``create_app`` builds the application; see ``secllm.serve.app`` for routes, limits and security,
``secllm.serve.server`` for the connection limits and read deadlines ``secllm serve`` runs it
under, and docs/serving.md for a production deployment.
With an ONNX backend the server imports no training stack (no torch, no transformers).
"""
