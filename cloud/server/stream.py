"""The control API's stream of changes (Server-Sent Events framing) and the versioned
snapshot it follows.

A stream starts with the whole snapshot, then sends only what changed: the top-level keys
whose value differs from the last one sent, and — for append-only lists such as the timeline —
only the entries that are new. Clients apply each change over their copy of the snapshot.

:class:`SnapshotFeed` holds the published snapshot, its version and the change from the
previous version, computed once when published and shared by every client; a stream waits on
its condition instead of rebuilding and diffing the snapshot per client.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

KEPT_CHANGES = 64  # versions whose change a lagging client can still be sent

APPEND_ONLY = ("timeline",)  # lists that only grow (old entries fall off the front)


def _entry_key(entry: Any) -> str:
    return json.dumps(entry, sort_keys=True, default=str)


def changes(previous: Mapping[str, Any] | None, current: Mapping[str, Any],
            append_only: Iterable[str] = APPEND_ONLY) -> dict[str, Any]:
    """What a client holding ``previous`` needs to get ``current``.

    Changed or new keys carry their new value; removed keys carry ``None``; an append-only
    list carries only its entries that ``previous`` did not have, under ``"<key>+"``.
    """
    if previous is None:
        return dict(current)
    grown = set(append_only)
    out: dict[str, Any] = {}
    for key, value in current.items():
        old = previous.get(key)
        if key in grown and isinstance(value, list) and isinstance(old, list):
            seen = {_entry_key(e) for e in old}
            new = [e for e in value if _entry_key(e) not in seen]
            if new:
                out[f"{key}+"] = new
        elif key not in previous or _entry_key(old) != _entry_key(value):
            out[key] = value
    for key in previous:
        if key not in current:
            out[key] = None
    return out


def merge_changes(first: Mapping[str, Any], second: Mapping[str, Any],
                  limit: int = 500) -> dict[str, Any]:
    """One change with the effect of applying ``first`` then ``second``."""
    out = dict(first)
    for key, value in second.items():
        if key.endswith("+"):
            name = key[:-1]
            if name in out and out[name] is not None:  # a whole value, then entries on it
                out[name] = [*out[name], *value][-limit:]
            else:
                out[key] = [*out.get(key, []), *value][-limit:]
        else:
            out.pop(f"{key}+", None)
            out[key] = value
    return out


def apply_changes(snapshot: dict[str, Any], change: Mapping[str, Any],
                  limit: int = 500) -> dict[str, Any]:
    """A client's side of :func:`changes`: the snapshot with one change applied (in place)."""
    for key, value in change.items():
        if key.endswith("+"):
            name = key[:-1]
            snapshot[name] = [*snapshot.get(name, []), *value][-limit:]
        elif value is None:
            snapshot.pop(key, None)
        else:
            snapshot[key] = value
    return snapshot


def sse_event(event: str, data: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event (``event:``, ``id:``, one ``data:`` line of JSON, blank line)."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, default=str, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs from the lines of an event stream; comments are skipped."""
    event, data = "message", []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


class SnapshotFeed:
    """The published snapshot, its version, and a wake-up when it changes.

    ``publish`` (the loop's thread) keeps a snapshot only if it differs from the last one,
    computes its change once and wakes the streams. Snapshots are never changed once
    published: readers share them. ``stamp`` adds what is stamped at read time and is not
    part of a version (the lab time).
    """

    def __init__(self, stamp: Callable[[], dict[str, Any]] | None = None) -> None:
        self.stamp = stamp or dict
        self.version = 0
        self.current: dict[str, Any] = {}
        self._changes: dict[int, dict[str, Any]] = {}  # version → change from version - 1
        self._json: tuple[dict[str, Any], bytes] | None = None  # (snapshot, its JSON)
        self._cond = threading.Condition()

    def publish(self, snapshot: dict[str, Any]) -> bool:
        """Publish ``snapshot`` if it differs from the current one; True if it did."""
        return self.commit(self.prepare(snapshot))

    def prepare(self, snapshot: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The comparison and the change, computed before ``commit`` (the costly part, out
        of any lock readers wait on); None when ``snapshot`` is the current one. Only the
        publisher's thread prepares and commits."""
        if snapshot == self.current:
            return None
        return snapshot, changes(self.current, snapshot)

    def commit(self, prepared: tuple[dict[str, Any], dict[str, Any]] | None) -> bool:
        """Publish what ``prepare`` made (O(1)); True if there was something to publish."""
        if prepared is None:
            return False
        snapshot, change = prepared
        with self._cond:
            self.version += 1
            self.current = snapshot
            self._changes[self.version] = change
            self._changes.pop(self.version - KEPT_CHANGES, None)
            self._json = None
            self._cond.notify_all()
        return True

    def snapshot_json(self) -> bytes:
        """The current snapshot with its stamp as JSON: serialised once per version, shared
        by every reader (the stamp is spliced in front)."""
        with self._cond:
            cached, current = self._json, self.current
        if cached is None or cached[0] is not current:
            body = json.dumps(current, default=str, separators=(",", ":")).encode()
            cached = (current, body)
            with self._cond:
                if self.current is current:
                    self._json = cached
        stamp = json.dumps(self.stamp(), separators=(",", ":")).encode()
        body = cached[1]
        if stamp == b"{}" or body == b"{}":
            return body if stamp == b"{}" else stamp
        return stamp[:-1] + b"," + body[1:]

    def read(self) -> tuple[int, dict[str, Any]]:
        """(version, snapshot) as published; no waiting."""
        with self._cond:
            return self.version, self.current

    def snapshot(self) -> dict[str, Any]:
        """The current snapshot with its stamp (a shallow copy)."""
        return {**self.stamp(), **self.current}

    def wait(self, after: int, timeout: float) -> int:
        """The version once it is newer than ``after``, or the same after ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self.version > after, timeout)
            return self.version

    def close(self) -> None:
        """Wake every waiting stream (they then see the server closing)."""
        with self._cond:
            self._cond.notify_all()

    def change_since(self, version: int, held: Mapping[str, Any],
                     ) -> tuple[int, dict[str, Any], dict[str, Any]]:
        """(newest version, the change from ``version`` to it, the newest snapshot): the
        shared per-version changes merged; computed from ``held`` (the snapshot of
        ``version``) only if they have fallen off."""
        with self._cond:
            newest, current = self.version, self.current
            kept = [self._changes.get(v) for v in range(version + 1, newest + 1)]
        if any(c is None for c in kept):
            return newest, changes(held, current), current
        merged: dict[str, Any] = {}
        for change in kept:
            merged = merge_changes(merged, change or {})
        return newest, merged, current
