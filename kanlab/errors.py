"""The errors kanlab reports to a user, by who must act on them.

- :class:`InputError` — the user's input is wrong (a config key, an override, a CLI argument).
  The CLI prints its one-line message and exits with code 2. Raise it (or a subclass) only from
  validation that runs *before* anything is created or trained.
- :class:`SetupError` — the input is fine but the environment is not (dataset missing, storage
  unreachable, device absent). One line naming what to do, exit code 2; a study stops at the
  first such failure instead of failing every trial the same way.

- :class:`Diverged` — training produced a non-finite loss or weight (a runtime failure, exit
  code 1): nothing is recorded as a result, and a search trial ends FAIL with its one line.

Everything else raised while a command runs is a runtime failure (a bug, or a failed training):
exit code 1 with a hint to rerun with ``--debug`` for the traceback.
"""

from __future__ import annotations

__all__ = ["ConfigError", "Diverged", "InputError", "SetupError", "UsageError"]


class InputError(ValueError):
    """Bad user input; the message is one line naming the bad value and what is allowed."""


class UsageError(InputError):
    """Bad command-line input (arguments, options, their combination)."""


class ConfigError(InputError):
    """A config file or override is invalid; the message names the dotted path."""


class SetupError(RuntimeError):
    """The environment lacks something the command needs; the message says how to fix it."""


class Diverged(RuntimeError):
    """Training produced a non-finite loss or parameter; the message names the step and value."""
