"""``python -m secllm.data.ordinary build --out DIR``: see :mod:`secllm.data.ordinary.build`."""

from secllm.data.ordinary.build import main

raise SystemExit(main())
