"""Build hook: the repository's experiment and study YAMLs travel in the wheel.

``experiments/`` and ``search/`` stay the one source of truth at the top of the repository;
building copies their YAMLs to ``kanlab/_specs/{experiments,search}/`` in the wheel, keeping
the layout, so a study's ``base: ../experiments/...`` resolves inside the installed package
(:mod:`kanlab.specs`). Editable installs read the repository's directories directly.
Everything else about the package is declared in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SPEC_DIRS = ("experiments", "search")


class BuildPyWithSpecs(build_py):
    """``build_py`` plus the spec YAMLs as package data of ``kanlab._specs``."""

    def run(self) -> None:
        if not getattr(self, "editable_mode", False):
            # pip builds in the source tree and setuptools never empties build/lib: a second
            # build would ship the specs and modules that were deleted since the first.
            shutil.rmtree(Path(self.build_lib) / "kanlab", ignore_errors=True)
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for folder in SPEC_DIRS:
            for src in sorted((ROOT / folder).rglob("*.yaml")):
                dest = Path(self.build_lib) / "kanlab" / "_specs" / src.relative_to(ROOT)
                self.mkpath(str(dest.parent))
                self.copy_file(str(src), str(dest))


setup(cmdclass={"build_py": BuildPyWithSpecs})
