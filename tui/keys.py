"""The app's keys, shared by the screens so each footer fits in 80 columns.

The dashboard's footer shows the actions and the way around (w, p, ?, q); the walkthrough and
practice screens show their own keys and hide the dashboard's actions (they still work, and
the help screen lists them all). In observer mode (``fraudlab tui --aws``) the keys with no
AWS call behind them (``OBSERVER_HIDDEN``) are hidden and do nothing; its help says which
``aws`` command does it instead.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

ACTIONS: list[BindingType] = [
    Binding("c", "crash", "Crash"),
    Binding("k", "kill_host", "Kill"),
    Binding("t", "traffic", "Traffic"),
    Binding("s", "spike", "Spike"),
    Binding("plus,equals_sign", "scale(1)", "Scale", key_display="+-"),
    Binding("minus", "scale(-1)", "Scale-", show=False),
    Binding("a", "algorithm", "Algo", show=False),
    Binding("r", "retry", "Retry", show=False),
    Binding("l", "slow", "Slow", show=False),
]

NAVIGATION: list[BindingType] = [
    Binding("w", "walkthrough", "Walk"),
    Binding("p", "practice", "Practice"),
    Binding("d", "dashboard", "Dash", show=False),
    Binding("question_mark", "help", "Help", key_display="?"),
    Binding("q", "quit", "Quit"),
]


OBSERVER_HIDDEN = frozenset({  # no AWS call behind them: hidden from observer mode's footer
    "kill_host", "scale", "algorithm", "retry", "slow", "walkthrough", "practice"})


def hidden_actions() -> list[BindingType]:
    """The dashboard's action keys, still working on another screen but not in its footer."""
    out: list[BindingType] = []
    for b in ACTIONS:
        assert isinstance(b, Binding)
        out.append(Binding(b.key, f"app.{b.action}", b.description, show=False))
    return out
