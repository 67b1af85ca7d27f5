"""``bench/walks.py``: the argument walk follows argv's words and the data calls return."""

from __future__ import annotations

from bench.walks import Walk, argument_walk
from kanlab.config import apply_overrides, parse_overrides


def test_walk_counts_rooms_stays_and_returns() -> None:
    found = Walk(places=["kanlab.cli", "kanlab.config", "kanlab.config", "kanlab.cli"])
    assert found.stays == ["kanlab.cli", "kanlab.config", "kanlab.cli"]
    assert (found.rooms, len(found.stays), found.returns) == (2, 3, 1)


def test_argument_walk_follows_words_and_returned_data_only() -> None:
    argv = ["".join(list("model.width=8"))]  # a fresh str, as bench.walks makes them

    def call() -> dict[str, object]:
        apply_overrides({}, [("unrelated", 1)])  # not the command's arguments: off the walk
        pairs = parse_overrides(argv)  # takes argv: on the walk; its list is argument data
        return apply_overrides({}, pairs)  # takes that list: on the walk

    found, value = argument_walk(call, argv)
    assert value == {"model": {"width": 8}}
    assert found.places == ["kanlab.config", "kanlab.config"]
    assert (found.rooms, len(found.stays), found.returns) == (1, 1, 0)
    assert found.config_hash_calls == 0
