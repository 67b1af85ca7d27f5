from __future__ import annotations

import subprocess
import sys

import pytest

from kanlab import _malloc


def _run(env: dict[str, str]) -> str:
    code = "from kanlab._malloc import tune_malloc; print(tune_malloc())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="glibc mallopt is Linux-only")
def test_tunes_glibc_unless_disabled_or_set_by_the_user() -> None:
    import os

    base = {k: v for k, v in os.environ.items()
            if not k.startswith("MALLOC_") and k not in ("GLIBC_TUNABLES", "KANLAB_MALLOC")}
    assert _run(base) == "True"
    assert _run({**base, "KANLAB_MALLOC": "0"}) == "False"
    assert _run({**base, "MALLOC_TRIM_THRESHOLD_": "1000"}) == "False"


def test_non_linux_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_malloc.sys, "platform", "darwin")
    assert _malloc.tune_malloc() is False
