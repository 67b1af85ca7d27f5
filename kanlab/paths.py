"""Names that become file names, and directories that must take files: checked up front.

An experiment name is the start of its run directory's name and a study name is its
database's file name, so a ``/`` or a ``..`` in either would write outside the results
directory (or into a folder that ``kanlab study list`` never reads); a results directory that
cannot take files would fail after the data was loaded and the model built.
"""

from __future__ import annotations

import os
from pathlib import Path

from kanlab.errors import ConfigError, SetupError

__all__ = ["check_name", "check_writable"]


def check_name(option: str, name: str) -> str:
    """``name`` if it is one path component: non-empty, no ``/`` or ``\\``, not starting with
    ``.`` (so neither ``..`` nor a hidden file); else :class:`ConfigError`."""
    if (not isinstance(name, str) or not name.strip() or name != name.strip()
            or any(c in name for c in "/\\\0") or name.startswith(".")):
        raise ConfigError(
            f"`{option}` must be a plain file name (no '/', '\\' or leading '.'), but got "
            f"{option}={name!r}."
        )
    return name


def check_writable(directory: str | Path, option: str = "--results-dir") -> None:
    """``directory`` exists as a writable directory, or can be created (nothing is created).

    Raises:
        SetupError: naming the directory and why files cannot go there.
    """
    path = Path(directory).expanduser().absolute()
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise SetupError(f"`{option}` must be a directory that can take files, but {str(probe)!r} "
                         f"is a file (results_dir={str(path)!r}).")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise SetupError(f"`{option}` must be a directory that can take files, but "
                         f"{str(probe)!r} is not writable (results_dir={str(path)!r}).")
