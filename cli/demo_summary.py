"""The demo's summary: what happened in each phase, as data and as a printed table (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, TextIO


@dataclass
class Milestone:
    """Something the demo waited for: did it happen, and how long after its cause (s)."""

    happened: bool = False
    seconds: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class DemoSummary:
    """Everything the demo measured; ``as_dict()`` is what ``--json`` prints."""

    runtime: str = ""
    time_scale: float = 0.0
    up_seconds: float = 0.0
    deploy_seconds: float = 0.0
    transactions: int = 0
    tasks_that_answered: int = 0
    frauds: int = 0
    frauds_flagged: int = 0
    phases: list[dict[str, Any]] = field(default_factory=list)
    crash: Milestone = field(default_factory=Milestone)
    scale_out: Milestone = field(default_factory=Milestone)
    scale_in: Milestone = field(default_factory=Milestone)
    tasks_per_host: dict[str, dict[str, int]] = field(default_factory=dict)
    scaling_activities: list[dict[str, Any]] = field(default_factory=list)
    describe_services: dict[str, int] = field(default_factory=dict)
    total_seconds: float = 0.0

    def phase(self, name: str) -> dict[str, Any]:
        return next((p for p in self.phases if p["name"] == name), {})

    @property
    def lessons_shown(self) -> bool:
        """The crash recovered, the spike scaled out and back, and scale-in failed nothing."""
        scale_in = self.phase("scale-in")
        return (self.crash.happened and self.scale_out.happened and self.scale_in.happened
                and bool(scale_in) and scale_in.get("failed") == 0)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"lessons_shown": self.lessons_shown}


def phase_rows(phases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per traffic phase: what was offered, what failed, and the latency."""
    return [{"name": p["name"], "seconds": p["seconds"], "target_rate": p["target_rate"],
             "sent": p["sent"], "ok": p["ok"], "failed": p["failed"],
             "errors": p["errors"], "dropped": p["dropped"],
             "p50_ms": round(p["latency"]["p50_ms"], 1),
             "p99_ms": round(p["latency"]["p99_ms"], 1)} for p in phases]


def tasks_per_host(snapshot: dict[str, Any]) -> dict[str, int]:
    """RUNNING tasks on each host of a control-API snapshot."""
    counts = {h["instance_id"]: 0 for h in snapshot.get("hosts", [])}
    for t in snapshot.get("tasks", []):
        if t["last_status"] == "RUNNING" and t.get("host"):
            counts[t["host"]] = counts.get(t["host"], 0) + 1
    return counts


def _when(m: Milestone) -> str:
    return f"{m.seconds:.1f} s" if m.happened and m.seconds is not None else "did NOT happen"


def render(summary: DemoSummary, out: TextIO) -> None:
    """The summary table the demo prints last (before ``--json``'s line)."""
    print("\nSummary", file=out)
    print(f"  {'phase':<10}{'offered/s':>10}{'served/s':>9}{'sent':>8}{'failed':>8}"
          f"{'(errors':>9}{'dropped)':>9}{'p50 ms':>8}{'p99 ms':>8}{'seconds':>9}", file=out)
    for p in summary.phases:
        served = p["ok"] / p["seconds"] if p["seconds"] else 0.0
        print(f"  {p['name']:<10}{p['target_rate']:>10.0f}{served:>9.0f}{p['sent']:>8}"
              f"{p['failed']:>8}{sum(p['errors'].values()):>9}{p['dropped']:>9}"
              f"{p['p50_ms']:>8.1f}{p['p99_ms']:>8.1f}{p['seconds']:>9.1f}", file=out)
    print("  (dropped: not sent because 64 requests were already waiting — the generator's "
          "cap)", file=out)
    crash = summary.crash
    print(f"  crash → replacement serving: {_when(crash)}"
          + (f" (\"{crash.detail.get('stopped_reason')}\", exit "
             f"{crash.detail.get('exit_code')})" if crash.happened else ""), file=out)
    out_ = summary.scale_out
    print(f"  spike → scaled out {out_.detail.get('from', '?')} → {out_.detail.get('to', '?')} "
          f"tasks: {_when(out_)}", file=out)
    in_ = summary.scale_in
    print(f"  back to normal → scaled in {in_.detail.get('from', '?')} → "
          f"{in_.detail.get('to', '?')} tasks: {_when(in_)}", file=out)
    for moment, hosts in summary.tasks_per_host.items():
        shown = ", ".join(f"{h}: {n}" for h, n in sorted(hosts.items()))
        print(f"  tasks per host ({moment}): {shown}", file=out)
    print(f"  whole demo: {summary.total_seconds:.0f} s; lessons shown: "
          f"{'yes' if summary.lessons_shown else 'NO'}", file=out)


def spike_line(spike: dict[str, Any], offered: float) -> str:
    """What this machine served of the spike, with the unserved split as the table splits it:
    not sent (the generator's cap) and answered with an error — never the same number twice."""
    served = spike["ok"] / spike["seconds"] if spike["seconds"] else 0.0
    errors = sum((spike.get("errors") or {}).values())
    return (f"This machine served {served:.0f} of the {offered:g} tx/s offered during the "
            f"spike: {spike['dropped']} requests not sent (64 already waiting: the "
            f"generator's cap), {errors} answered with an error")
