"""The stream of changes: what a client holding one snapshot needs to reach the next."""

from __future__ import annotations

import threading

from cloud.server.stream import (
    KEPT_CHANGES,
    SnapshotFeed,
    apply_changes,
    changes,
    merge_changes,
    parse_sse,
    sse_event,
)


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


def test_a_feed_publishes_only_what_changed_and_counts_versions() -> None:
    feed = SnapshotFeed(stamp=lambda: {"lab_time": 1.5})
    assert feed.publish({"a": 1, "timeline": [{"n": 1}]})
    assert not feed.publish({"a": 1, "timeline": [{"n": 1}]})  # same: no new version
    assert feed.version == 1
    assert feed.snapshot() == {"lab_time": 1.5, "a": 1, "timeline": [{"n": 1}]}
    assert feed.publish({"a": 2, "timeline": [{"n": 1}, {"n": 2}]})
    assert feed.version == 2


def test_a_lagging_client_gets_the_shared_changes_merged() -> None:
    feed = SnapshotFeed()
    feed.publish({"a": 1, "b": 1, "timeline": [{"n": 1}]})
    version, held = feed.read()
    feed.publish({"a": 2, "b": 1, "timeline": [{"n": 1}, {"n": 2}]})
    feed.publish({"a": 3, "timeline": [{"n": 1}, {"n": 2}, {"n": 3}]})
    newest, change, current = feed.change_since(version, held)
    assert newest == 3 and current == feed.current
    assert change == {"a": 3, "b": None, "timeline+": [{"n": 2}, {"n": 3}]}
    assert apply_changes(dict(held), change) == current


def test_a_change_is_computed_once_per_version_not_per_client() -> None:
    feed = SnapshotFeed()
    feed.publish({"a": 1})
    feed.publish({"a": 2})
    first = feed.change_since(1, {"a": 1})[1]
    second = feed.change_since(1, {"a": 1})[1]
    assert first == second == {"a": 2}


def test_a_client_older_than_the_kept_changes_gets_a_diff_from_what_it_holds() -> None:
    feed = SnapshotFeed()
    feed.publish({"a": 0})
    for n in range(1, KEPT_CHANGES + 5):
        feed.publish({"a": n})
    newest, change, _ = feed.change_since(1, {"a": 0})
    assert newest == KEPT_CHANGES + 5 and change == {"a": KEPT_CHANGES + 4}


def test_wait_returns_at_once_when_newer_and_after_the_timeout_when_not() -> None:
    feed = SnapshotFeed()
    feed.publish({"a": 1})
    assert feed.wait(0, timeout=5) == 1
    assert feed.wait(1, timeout=0.01) == 1
    threading.Timer(0.05, feed.publish, args=({"a": 2},)).start()
    assert feed.wait(1, timeout=10) == 2


def test_merged_changes_replace_then_append() -> None:
    assert merge_changes({"t": [1]}, {"t+": [2]}) == {"t": [1, 2]}
    assert merge_changes({"t+": [1]}, {"t": [5]}) == {"t": [5]}
    assert merge_changes({"x": 1}, {"x": None}) == {"x": None}


def test_snapshot_json_is_the_stamped_snapshot_serialised_once_per_version() -> None:
    import json

    feed = SnapshotFeed(stamp=lambda: {"lab_time": 2.5})
    feed.publish({"tasks": [1], "x": "y"})
    first = feed.snapshot_json()
    assert json.loads(first) == {"lab_time": 2.5, "tasks": [1], "x": "y"}
    assert feed._json is not None and feed._json[0] is feed.current  # cached for the version
    feed.publish({"tasks": [1, 2]})
    assert json.loads(feed.snapshot_json()) == {"lab_time": 2.5, "tasks": [1, 2]}
    assert json.loads(SnapshotFeed().snapshot_json()) == {}
