"""FraudLabApp: attach to (or start) the local cloud, stream its state, send its actions.

A thin client: every decision is the local cloud's and arrives in the snapshot with its
reason; the app renders snapshots and posts actions to the control API. Everything that
blocks (starting the cloud, HTTP, the stream, deploy steps) runs in thread workers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import BindingType
from textual.worker import get_current_worker

from cloud.server.stream import apply_changes
from tui.backend import Backend, Control
from tui.keys import ACTIONS, NAVIGATION, OBSERVER_HIDDEN
from tui.messages import (
    ActionFailed,
    ActionSucceeded,
    CloudConnected,
    CloudUnreachable,
    ConfirmationNeeded,
    SnapshotReceived,
    StreamLost,
)
from tui.screens.confirm import ConfirmScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.help import HelpScreen
from tui.screens.practice import PracticeScreen
from tui.screens.walkthrough import WalkthroughScreen
from tui.view import History
from tui.widgets.notice import NoticeLine

STREAM_INTERVAL = 0.5  # seconds: the stream sends what changed twice a second
STREAM_SECONDS = 60.0  # a stream lasts a minute, then the worker reconnects
RECONNECT_DELAY = 1.0
SPIKE = "spike:10:0:36000"  # ×10 from now on (lab seconds), until switched back


class FraudLabApp(App[None]):
    """The FraudLab terminal app."""

    CSS_PATH = Path(__file__).with_name("fraudlab.tcss")  # the one stylesheet
    ENABLE_COMMAND_PALETTE = False
    TITLE = "FraudLab"
    SUB_TITLE = "image → ECR → ECS → load balancer"
    BINDINGS: ClassVar[list[BindingType]] = [*ACTIONS, *NAVIGATION]

    def __init__(self, backend: Backend | None = None, *, client: Control | None = None,
                 rate: float = 20.0, stream: bool = True, walkthrough: bool = False,
                 progress_path: Any = None) -> None:
        super().__init__()
        self.backend = backend or Backend(client)
        self.rate = rate
        self.stream_enabled = stream
        self.start_on_walkthrough = walkthrough
        self.progress_path = progress_path
        self.snapshot: dict[str, Any] | None = None
        self.slowed_task: str | None = None  # the task `l` slowed, so `l` again undoes it
        self.history = History()
        self.first_paint: float | None = None  # seconds from start to the first dashboard
        self._started = time.monotonic()

    # ---- life cycle -------------------------------------------------------------------

    def on_mount(self) -> None:
        self.connect_cloud()  # first: the connection overlaps with composing the screens
        self.install_screen(DashboardScreen(), "dashboard")
        self.install_screen(WalkthroughScreen(self.progress_path), "walkthrough")
        self.install_screen(PracticeScreen(), "practice")
        self.push_screen("walkthrough" if self.start_on_walkthrough else "dashboard")

    @work(thread=True, exclusive=True, group="connect")
    def connect_cloud(self) -> None:
        try:
            info, started, seconds = self.backend.connect()
        except Exception as exc:  # shown to the user; the app stays up
            self.post_message(CloudUnreachable(str(exc)))
            return
        self.post_message(CloudConnected(info, started, seconds))

    def on_cloud_connected(self, message: CloudConnected) -> None:
        if message.info.get("observer"):
            info = message.info
            self.sub_title = (f"observing {info.get('cluster')}/{info.get('service')} on AWS "
                              f"({info.get('region') or 'region ?'})")
            self.notify("every value read from AWS (blank: not reported) · c, t ask first",
                        title="observer", timeout=12)
        if message.started:
            self.notify(f"local cloud started in {message.seconds:.1f} s "
                        f"(runtime {message.info.get('runtime', '?')})")
        if message.info.get("endpoint_note"):  # LocalStack answered but could not serve
            self.notify(str(message.info["endpoint_note"]), title="AWS endpoint",
                        severity="warning", timeout=15)
        if self.stream_enabled:
            self.follow_stream()
        else:
            self.fetch_snapshot()

    def on_cloud_unreachable(self, message: CloudUnreachable) -> None:
        self.notify(message.error, title="local cloud", severity="error", timeout=10)
        if dashboard := self.mounted_screen("dashboard"):
            dashboard.show_status(f"not connected: {message.error}")

    @work(thread=True, exclusive=True, group="stream")
    def follow_stream(self) -> None:
        """Read the stream, apply each change, post the whole snapshot; reconnect on loss."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            client = self.backend.client
            snapshot: dict[str, Any] = {}
            try:
                for event, data in client.stream(interval=STREAM_INTERVAL,
                                                 seconds=STREAM_SECONDS):
                    if worker.is_cancelled:
                        return
                    if event == "snapshot":
                        snapshot = dict(data)
                    elif event == "changes":
                        apply_changes(snapshot, data)
                    else:
                        continue
                    self.post_message(SnapshotReceived(dict(snapshot)))
            except Exception as exc:
                self.post_message(StreamLost(str(exc)))
            if not worker.is_cancelled:
                time.sleep(RECONNECT_DELAY)

    @work(thread=True, group="snapshot")
    def fetch_snapshot(self) -> None:
        try:
            self.post_message(SnapshotReceived(self.backend.client.get("/v1/snapshot")))
        except Exception as exc:
            self.post_message(StreamLost(str(exc)))

    def on_snapshot_received(self, message: SnapshotReceived) -> None:
        self.snapshot = message.snapshot
        self.history.update(message.snapshot)
        if dashboard := self.mounted_screen("dashboard"):
            dashboard.show(message.snapshot, self.history)
            if self.first_paint is None:
                self.first_paint = time.monotonic() - self._started
        if walk := self.mounted_screen("walkthrough"):
            walk.show_snapshot(message.snapshot)

    def on_stream_lost(self, message: StreamLost) -> None:
        if dashboard := self.mounted_screen("dashboard"):
            dashboard.show_status(f"stream lost ({message.error}); reconnecting…")

    def notify(self, message: str, *, title: str = "", severity: Any = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Say it on the notice line of the screen in view (or the one under a modal): it
        takes its own row and covers nothing. The stylesheet hides Textual's toasts; the
        notification is still recorded as Textual's (what the tests read)."""
        for screen in reversed(self.screen_stack):
            notices = screen.query(NoticeLine)
            if notices:
                notices.first().say(message, title, str(severity), timeout)
                break
        super().notify(message, title=title, severity=severity, timeout=timeout,
                       markup=markup)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Observer mode: the keys with no AWS call behind them (kill a host, scale, the
        kit's load-balancer knobs, slow, the walkthrough and practice on the local cloud)
        are left out of the footer and do nothing; the help says what to use instead."""
        return not (self.backend.observer and action in OBSERVER_HIDDEN)

    def mounted_screen(self, name: str) -> Any:
        """The installed screen ``name`` if it is mounted, else None — also once the app is
        closing (no longer running): Textual then removes every screen's widgets and
        uninstalls the screens, while the stream worker's last snapshots are still queued."""
        if not self.is_running or not self.is_screen_installed(name):
            return None
        screen = self.get_screen(name)
        return screen if screen.is_mounted else None

    # ---- actions: each one call to the control API, in a worker --------------------------

    @work(thread=True, group="actions")
    def call_api(self, action: str, path: str, body: dict[str, Any],
                 describe: Callable[[Any], str], confirmed: bool = False) -> None:
        """Post one action; a client that acts on real resources (observer mode) first says
        what will happen (``confirmation``) and the learner answers before anything is sent."""
        client = self.backend.client
        try:
            ask = None if confirmed else getattr(client, "confirmation", None)
            question = ask(path, body) if ask is not None else None
            if question is not None:
                self.post_message(ConfirmationNeeded(action, path, *question, describe))
                return
            reply = client.post(path, body)
        except Exception as exc:
            self.post_message(ActionFailed(action, str(exc)))
            return
        self.post_message(ActionSucceeded(action, describe(reply), reply))

    def on_confirmation_needed(self, message: ConfirmationNeeded) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.call_api(message.action, message.path, message.body, message.describe,
                              confirmed=True)
            else:
                self.notify("nothing was sent", title=f"{message.action} cancelled")

        self.push_screen(ConfirmScreen(message.question, f"{message.action} on real AWS"),
                         answered)

    def on_action_succeeded(self, message: ActionSucceeded) -> None:
        self.notify(message.text, title=message.action)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.error, title=f"{message.action} failed", severity="error",
                    timeout=8)

    def _connected(self, action: str) -> bool:
        if self.backend.client is None:
            self.post_message(ActionFailed(action, "not connected to the local cloud yet"))
            return False
        return True

    def action_crash(self) -> None:
        if self._connected("crash"):
            self.call_api("crash", "/v1/crash", {}, lambda r: (
                f"aws ecs stop-task {str(r.get('crashed'))[:8]}…: ECS stops it, the service "
                "scheduler starts a replacement" if r.get("cli") else
                f"SIGKILL sent to task {str(r.get('crashed'))[:8]}: ECS marks it STOPPED and "
                "the service scheduler starts a replacement"))

    def action_slow(self) -> None:
        """Make one task answer 300 ms later (a slow dependency); again: undo it."""
        if not self._connected("slow"):
            return
        if self.slowed_task:
            task, self.slowed_task = self.slowed_task, None
            self.call_api("slow", "/v1/slow", {"task": task, "ms": 0},
                          lambda r: f"task {str(r.get('slow'))[:8]} answers at its own speed "
                                    "again")
            return

        def done(reply: dict[str, Any]) -> str:
            self.slowed_task = str(reply.get("slow"))
            return (f"task {self.slowed_task[:8]} answers /predict 300 ms later: round robin "
                    "still sends it its share, least outstanding requests fewer (a switches)")

        self.call_api("slow", "/v1/slow", {"ms": 300}, done)

    def action_kill_host(self) -> None:
        if self._connected("kill host"):
            self.call_api("kill host", "/v1/kill-host", {}, lambda r: (
                f"terminated {r.get('killed_host')}: its tasks stop; the scheduler places "
                "replacements where they fit"))

    def _traffic(self) -> dict[str, Any]:
        return (self.snapshot or {}).get("traffic") or {}

    def action_traffic(self) -> None:
        if not self._connected("traffic"):
            return
        if self._traffic().get("running"):
            self.call_api("traffic", "/v1/traffic/stop", {}, lambda r: (
                f"traffic stopped: {r.get('completed', 0)} answered"))
        else:
            self.call_api("traffic", "/v1/traffic",
                          {"rate": self.rate, "profile": "steady", "duration": 600},
                          lambda r: f"steady traffic at {self.rate:g} tx/s to {r.get('target')}")

    def action_spike(self) -> None:
        if not self._connected("spike"):
            return
        traffic = self._traffic()
        if not traffic.get("running"):
            self.call_api("spike", "/v1/traffic",
                          {"rate": self.rate, "profile": SPIKE, "duration": 600,
                           "phase": "spike"},
                          lambda r: f"Black Friday: ×10 → {self.rate * 10:g} tx/s")
        elif (traffic.get("profile") or {}).get("name") == "spike":
            self.call_api("spike", "/v1/traffic/profile",
                          {"rate": self.rate, "profile": "steady", "phase": "normal"},
                          lambda r: f"spike over: back to {self.rate:g} tx/s")
        else:
            self.call_api("spike", "/v1/traffic/profile",
                          {"rate": self.rate, "profile": SPIKE, "phase": "spike"},
                          lambda r: f"Black Friday: ×10 → {self.rate * 10:g} tx/s")

    def action_scale(self, delta: int) -> None:
        if not self._connected("scale"):
            return
        services = (self.snapshot or {}).get("services") or []
        if not services:
            self.post_message(ActionFailed("scale", "no service is deployed yet: run the "
                                                    "walkthrough (w) or `fraudlab deploy`"))
            return
        desired = max(0, int(services[0].get("desired", 0)) + delta)
        self.call_api("scale", "/v1/scale", {"desired": desired, "service": services[0]["name"]},
                      lambda r: f"{r.get('cli', '')}: {r.get('title', '')}")

    def action_algorithm(self) -> None:
        if not self._connected("algorithm"):
            return
        lb = (self.snapshot or {}).get("load_balancer") or {}
        now = lb.get("algorithm", "round_robin")
        new = "round_robin" if now == "least_outstanding_requests" else \
            "least_outstanding_requests"
        self.call_api("algorithm", "/v1/lb", {"algorithm": new},
                      lambda r: f"target group routing: {r.get('algorithm')}")

    def action_retry(self) -> None:
        if not self._connected("retry"):
            return
        lb = (self.snapshot or {}).get("load_balancer") or {}
        self.call_api("retry", "/v1/lb", {"retry": not lb.get("retry_on_connect_error", False)},
                      lambda r: f"retry on connect error {'on' if r.get('retry') else 'off'} "
                                f"({r.get('retry_label', '')})")

    # ---- navigation -------------------------------------------------------------------

    def _go(self, name: str) -> None:
        while isinstance(self.screen, HelpScreen):
            self.pop_screen()
        if self.screen is not self.get_screen(name):
            self.switch_screen(name)

    def action_dashboard(self) -> None:
        self._go("dashboard")

    def action_walkthrough(self) -> None:
        self._go("walkthrough")

    def action_practice(self) -> None:
        self._go("practice")

    async def action_quit(self) -> None:
        """Quit; a backend with something to close (observer mode: its polling stream and any
        traffic it sent) closes first, so no worker waits out a poll."""
        close = getattr(self.backend, "close", None)
        if close is not None:
            close()
        self.exit()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(observer=bool(self.backend.info.get("observer"))))
