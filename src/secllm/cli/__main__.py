"""``python -m secllm.cli ...`` (what `accelerate launch -m secllm.cli` runs)."""

from secllm.cli import main

main()
