"""Regenerate ``src/secllm/assets/syscalls/*.json`` (system-call name -> number) from the Linux UAPI
headers of Debian's ``linux-libc-dev`` (``asm/unistd_64.h`` for x86_64, ``asm/unistd_32.h`` for i386).

    python scripts/gen_syscall_tables.py
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "secllm" / "assets" / "syscalls"
HEADERS = {"x86_64": "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
           "i386": "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "linux-libc-dev"], capture_output=True,
                             text=True).stdout.strip()
    for abi, header in HEADERS.items():
        table = {m.group(1): int(m.group(2))
                 for m in re.finditer(r"#define __NR_(\w+)\s+(\d+)", Path(header).read_text())}
        doc = {"abi": abi, "source": f"{header} (Debian linux-libc-dev {version})", "syscalls": table}
        (OUT / f"{abi}.json").write_text(json.dumps(doc, indent=0, sort_keys=False) + "\n")
        print(abi, len(table))


if __name__ == "__main__":
    main()
