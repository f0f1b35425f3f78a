"""The control API's stream of changes, as pure functions (Server-Sent Events framing).

A stream starts with the whole snapshot, then sends only what changed: the top-level keys
whose value differs from the last one sent, and — for append-only lists such as the timeline —
only the entries that are new. Clients apply each change over their copy of the snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

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
