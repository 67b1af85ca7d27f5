"""Run All-KAN's own ``run.py`` unmodified on CPU (a subprocess of bench/train_throughput.py).

Usage: ``python bench/_allkan_run.py PEER_DIR WORK_DIR DATA_DIR [run.py arguments ...]``.

All-KAN (hoangthangta/All-KAN, a GitHub snapshot checked out under ``PEER_DIR``) is not
edited. What this adapter does, and nothing else:

* ``sys.path``: ``PEER_DIR`` (its ``models``, ``utils`` ...) and ``PEER_DIR/site`` or
  ``PEER_DIR/../site`` (its extra requirements, ``pip install --target``, if not installed);
* data: ``WORK_DIR/data`` links to ``DATA_DIR``, which holds the uncompressed
  ``FashionMNIST/raw`` idx files (what kanlab's ``fashion_mnist`` data module writes), so
  torchvision finds them and never downloads; its outputs go under ``WORK_DIR/output``;
* CUDA: ``run.py`` calls ``torch.cuda.reset_peak_memory_stats`` and creates
  ``torch.cuda.Event``\\ s unconditionally (used only when ``--profile_epoch`` > 0); without a
  GPU both become no-ops so that its training loop runs on the CPU as written;
* ``models/faster_kan.py`` imports ``transformers.AutoModel`` for a text model that AF-KAN
  never touches; when ``transformers`` is not installed, an empty ``transformers`` module whose
  ``AutoModel`` raises on use stands in, so that ``models/__init__`` imports.
"""

from __future__ import annotations

import os
import runpy
import sys
import types
from pathlib import Path
from typing import Any

import torch


class _MissingAutoModel:
    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> Any:
        raise ImportError("transformers is not installed (bench/_allkan_run.py)")


class _NoEvent:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def record(self, *args: Any) -> None:
        pass


def main(argv: list[str]) -> None:
    peer, work, data = (Path(a).resolve() for a in argv[:3])
    sys.path[:0] = [str(peer / "site"), str(peer.parent / "site"), str(peer)]
    work.mkdir(parents=True, exist_ok=True)
    link = work / "data"
    if not link.exists():
        link.symlink_to(data, target_is_directory=True)
    os.chdir(work)
    if not torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats = lambda *a, **k: None
        torch.cuda.Event = _NoEvent  # type: ignore[assignment,misc]
    try:
        import transformers  # noqa: F401
    except ImportError:
        placeholder = types.ModuleType("transformers")
        placeholder.AutoModel = _MissingAutoModel  # type: ignore[attr-defined]
        sys.modules["transformers"] = placeholder
    sys.argv = [str(peer / "run.py"), *argv[3:]]
    runpy.run_path(str(peer / "run.py"), run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
