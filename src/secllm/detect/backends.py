"""Inference backends: what turns token ids into class probabilities and token attributions.

The detector logic (input splitting, decoding, aggregation, evidence mapping) is the same for
every backend; a backend only has to implement this protocol. ``TorchBackend`` runs the
fine-tuned PyTorch model (and can attribute by gradient × input); an ONNX Runtime backend serves
without the training stack.

    >>> isinstance(TorchBackend, type)
    True
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from secllm.runtime.batching import length_batches, pad_batch


class Backend(Protocol):
    name: str

    def predict_proba(self, seqs: list[list[int]]) -> np.ndarray:
        """(n, n_labels) class probabilities for unpadded token-id sequences, in input order."""

    def token_attribution(self, ids: list[int], target: int, benign: int) -> np.ndarray:
        """(t,) contribution of each token to ``logit[target] - logit[benign]``."""


class TorchBackend:
    """The PyTorch model itself (imports torch).

    ``batch_tokens`` caps padded tokens per model call. Small calls are faster on a CPU: on the
    2-core benchmark machine 2,048 tokens gave ~2.7x the items/s of 16,384 (cache-resident
    activations; ``benchmarks/runtime.py`` measures it).
    """

    name = "torch"

    def __init__(self, model, pad_id: int, batch_tokens: int = 2048):
        self.model = model
        self.pad_id = pad_id
        self.batch_tokens = batch_tokens

    def predict_proba(self, seqs: list[list[int]]) -> np.ndarray:
        import torch

        out = np.zeros((len(seqs), self.model.config.num_labels), dtype=np.float32)
        with torch.inference_mode():
            for b in length_batches([len(s) for s in seqs], self.batch_tokens):
                ids, att = pad_batch([seqs[i] for i in b], self.pad_id)
                logits = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(att)).logits
                out[b] = torch.softmax(logits.float(), -1).numpy()
        return out

    def token_attribution(self, ids: list[int], target: int, benign: int) -> np.ndarray:
        """Gradient × input over the input embeddings."""
        import torch

        x = torch.tensor([ids])
        emb = self.model.get_input_embeddings()(x).detach().requires_grad_(True)     # (1, t, h)
        out = self.model(inputs_embeds=emb, attention_mask=torch.ones_like(x))
        diff = out.logits[0, target] - out.logits[0, benign]
        (grad,) = torch.autograd.grad(diff, emb)
        return (grad * emb).sum(-1)[0].detach().numpy()                                # (t,)


def _onnx_factory(int8: bool):
    """Lazy factory: onnxruntime is imported only when an ONNX backend is asked for."""

    def make(model_dir, tokenizer, threads: int | None = None) -> Backend:
        from secllm.runtime.onnx import OnnxBackend

        return OnnxBackend(model_dir, tokenizer, threads=threads, int8=int8)

    return make


# name -> factory(model_dir, tokenizer, threads=None) -> Backend; "torch" is built into the detector.
BACKENDS: dict = {
    "onnx": _onnx_factory(int8=False),          # model.onnx (fp32), see secllm.runtime.onnx
    "onnx-int8": _onnx_factory(int8=True),      # model.int8.onnx (dynamic int8 quantisation)
}
