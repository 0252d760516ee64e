"""SecLLM: a security foundation model toolkit.

Pretrain a Transformer on unlabeled security data, fine-tune it into detectors, serve it locally.
"""

__version__ = "0.1.0"
