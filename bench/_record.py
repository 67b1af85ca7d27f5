"""Benchmark output as committed data: ``python -m bench NAME [flags] --record``.

Writes ``results/bench/<NAME>.json`` (or under ``$KANLAB_BENCH_DIR``) holding what the module
printed (``output``) and its provenance: the command (``argv``), ``git_sha``, ``code_sha`` and
``git_dirty`` of kanlab/ (:mod:`kanlab.provenance`), torch's intra-op ``threads``, the machine
(platform, processor, CPU count, CPU capability, torch version), the date and the load average
(1, 5, 15 minutes) before and after the run: the machine may be shared. README and
results READMEs quote measured figures from these files and say so with a
``<!-- source: results/bench/NAME.json -->`` comment in the paragraph;
``tests/test_readme_numbers.py`` re-reads the file and checks every figure.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import platform
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["provenance", "recorded"]

ROOT = Path(__file__).resolve().parents[1]


def provenance(argv: Sequence[str]) -> dict[str, Any]:
    """Where and with what code a benchmark ran."""
    import torch

    from kanlab.provenance import code_version, machine

    return {
        "argv": ["python", "-m", "bench", *argv], **code_version().to_dict(),
        "threads": torch.get_num_threads(),
        "machine": {**machine(), "processor": platform.processor(),
                    "cpu_count": os.cpu_count()},
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "load_average_before": _load(),
    }


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # not available on this platform
        return None


class _Tee(io.TextIOBase):
    def __init__(self, *streams: Any) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()


@contextlib.contextmanager
def recorded(name: str, flags: Sequence[str]) -> Iterator[None]:
    """Print as usual and write ``<bench dir>/<name>.json`` when the block ends."""
    meta = provenance([name, *flags])  # before the run: the code it ran
    buffer = io.StringIO()
    with contextlib.redirect_stdout(_Tee(sys.stdout, buffer)):
        yield
    import torch

    meta["threads"] = torch.get_num_threads()  # after a module's own --threads took effect
    meta["load_average_after"] = _load()
    out_dir = Path(os.environ.get("KANLAB_BENCH_DIR", ROOT / "results" / "bench"))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps({"bench": name, **meta, "output": buffer.getvalue()},
                               indent=1, sort_keys=True) + "\n")
    print(f"recorded {path}", file=sys.stderr)
