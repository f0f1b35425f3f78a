"""The stream of changes: what a client holding one snapshot needs to reach the next."""

from __future__ import annotations

from cloud.server.stream import apply_changes, changes, parse_sse, sse_event


def test_first_change_is_the_whole_snapshot() -> None:
    snap = {"tasks": [1, 2], "lab_time": 3.0}
    assert changes(None, snap) == snap


def test_only_changed_keys_are_sent() -> None:
    before = {"tasks": [1, 2], "hosts": ["a"], "lab_time": 3.0}
    after = {"tasks": [1, 2], "hosts": ["a", "b"], "lab_time": 3.5}
    assert changes(before, after) == {"hosts": ["a", "b"], "lab_time": 3.5}
    assert changes(after, after) == {}


def test_removed_keys_are_sent_as_none() -> None:
    assert changes({"traffic": {"rate": 5}, "x": 1}, {"x": 1}) == {"traffic": None}


def test_timeline_sends_only_new_entries() -> None:
    old = [{"wall": 1, "text": "a"}, {"wall": 2, "text": "b"}]
    new = [{"wall": 2, "text": "b"}, {"wall": 3, "text": "c"}]  # "a" fell off the front
    change = changes({"timeline": old}, {"timeline": new})
    assert change == {"timeline+": [{"wall": 3, "text": "c"}]}


def test_applying_every_change_rebuilds_the_latest_snapshot() -> None:
    states = [{"tasks": [], "timeline": [], "traffic": {"rate": 1}},
              {"tasks": ["t1"], "timeline": [{"t": 1}], "traffic": {"rate": 1}},
              {"tasks": ["t1", "t2"], "timeline": [{"t": 1}, {"t": 2}]}]
    client: dict = {}
    previous = None
    for current in states:
        apply_changes(client, changes(previous, current))
        previous = current
    assert client == states[-1]


def test_sse_framing_round_trips() -> None:
    wire = (sse_event("snapshot", {"a": 1}, 1) + b": keep-alive\n\n"
            + sse_event("changes", {"b": [1, "x"]}, 2)).decode()
    assert list(parse_sse(wire.splitlines(keepends=True))) == [
        ("snapshot", {"a": 1}), ("changes", {"b": [1, "x"]})]
