"""Run every benchmark module (or the ones named): ``python -m bench [kan_layers topk ...]``.

``--record``: also write each module's output, with its provenance, to
``results/bench/<module>.json`` (:mod:`bench._record`), the committed data README quotes.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    available = sorted(
        m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_")
    )
    names = [a for a in argv if not a.startswith("-")] or available
    unknown = [n for n in names if n not in available]
    if unknown:
        print(f"bench: unknown benchmark {unknown[0]!r}; available: {', '.join(available)}",
              file=sys.stderr)
        return 2
    flags = [a for a in argv if a.startswith("-") and a != "--record"]
    status = 0
    for name in names:
        print(f"\n=== bench/{name}.py ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        if "--record" in argv:
            from bench._record import recorded

            with recorded(name, flags):
                status |= int(module.main(flags) or 0)
        else:
            status |= int(module.main(flags) or 0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
