"""Push progress folded from the engine's events (recorded from a real `docker push`)."""

from __future__ import annotations

import io

from cloud.image.push import PushProgress, render_bars

DIGEST = "sha256:f4766ab8e60688b0c8824485fb6e66e7bb5e76e44b99dbfb6e3e59a5f5093274"
EVENTS = [
    {"status": "The push refers to repository [127.0.0.1:5000/fraud-detection]"},
    {"status": "Preparing", "progressDetail": {}, "id": "9140df715d2b"},
    {"status": "Preparing", "progressDetail": {}, "id": "fc6a31fa5d8e"},
    {"status": "Waiting", "progressDetail": {}, "id": "59d966c39c6f"},
    {"status": "Pushing", "progressDetail": {"current": 529_333, "total": 99_540_533},
     "progress": "[>    ]  529.3kB/99.54MB", "id": "fc6a31fa5d8e"},
    {"status": "Pushing", "progressDetail": {"current": 1536, "total": 133_893},
     "id": "9140df715d2b"},
    {"status": "Pushing", "progressDetail": {"current": 49_770_266, "total": 99_540_533},
     "id": "fc6a31fa5d8e"},
    {"status": "Layer already exists", "progressDetail": {}, "id": "59d966c39c6f"},
    {"status": "Pushed", "progressDetail": {}, "id": "9140df715d2b"},
    {"status": "Pushing", "progressDetail": {"current": 149_504, "total": 133_893},
     "id": "9140df715d2b"},
]
TAIL = [
    {"status": "Pushed", "progressDetail": {}, "id": "fc6a31fa5d8e"},
    {"status": f"slim: digest: {DIGEST} size: 1365"},
    {"progressDetail": {}, "aux": {"Tag": "slim", "Digest": DIGEST, "Size": 1365}},
]


def test_progress_per_layer() -> None:
    progress = PushProgress()
    for event in EVENTS:
        progress.update(event)
    venv = progress.layers["fc6a31fa5d8e"]
    assert (venv.status, venv.current, venv.total) == ("Pushing", 49_770_266, 99_540_533)
    assert 0.49 < venv.fraction < 0.51
    code = progress.layers["9140df715d2b"]
    assert code.done and code.status == "Pushed" and code.fraction == 1.0  # late line ignored
    base = progress.layers["59d966c39c6f"]
    assert base.done and base.existed
    assert not progress.done and progress.digest is None
    assert progress.messages == [EVENTS[0]["status"]]
    for event in TAIL:
        progress.update(event)
    assert progress.done
    assert (progress.digest, progress.manifest_size) == (DIGEST, 1365)
    data = progress.as_dict()
    assert [layer["id"] for layer in data["layers"]] == ["9140df715d2b", "fc6a31fa5d8e",
                                                         "59d966c39c6f"]
    assert [layer["existed"] for layer in data["layers"]] == [False, False, True]


def test_an_error_event_is_kept() -> None:
    progress = PushProgress()
    progress.update({"errorDetail": {"message": "unauthorized: authentication required"},
                     "error": "unauthorized: authentication required"})
    assert progress.error == "unauthorized: authentication required"


def test_bars() -> None:
    progress = PushProgress()
    for event in EVENTS:
        progress.update(event)
    lines = render_bars(progress, width=10)
    assert len(lines) == 3
    venv = next(line for line in lines if line.startswith("fc6a31fa5d8e"))
    assert "█████░░░░░" in venv and "49.8 MB/99.5 MB" in venv and venv.endswith("Pushing")
    base = next(line for line in lines if line.startswith("59d966c39c6f"))
    assert "██████████" in base and base.endswith("Layer already exists")


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_bars_in_a_log_and_on_a_terminal() -> None:
    from cli.image import BarPrinter

    log = io.StringIO()
    printer = BarPrinter(log)
    progress = PushProgress()
    for event in [*EVENTS, *TAIL]:
        progress.update(event)
        printer(progress)
    assert log.getvalue().splitlines() == ["  layer 59d966c39c6f: Layer already exists",
                                           "  layer 9140df715d2b: Pushed",
                                           "  layer fc6a31fa5d8e: Pushed"]
    tty = _Tty()
    printer = BarPrinter(tty, interval=0.0)
    progress = PushProgress()
    for event in EVENTS[:3]:
        progress.update(event)
        printer(progress)
    text = tty.getvalue()
    # No layer yet: nothing; one layer: one line; two: back up one line and redraw both.
    assert text.count("\x1b[1F") == 1 and "\x1b[2F" not in text
    assert text.count("\x1b[2K") == 1 + 2
