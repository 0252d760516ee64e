"""The REST API: ``secllm serve`` (FastAPI + uvicorn) over the same detectors as the CLI.

``create_app`` builds the application; see ``secllm.serve.app`` for routes, limits and security.
With an ONNX backend the server imports no training stack (no torch, no transformers).
"""
