"""Plain-text rendering of steps and snapshots for the ``fraudlab`` command."""

from __future__ import annotations

from typing import Any, TextIO

from cloud.aws.steps.base import short_cli  # long JSON arguments summarised

BADGES = {"real": "[REAL]", "emulated": "[EMULATED]", "simulated": "[SIMULATED]"}


def say(out: TextIO, badge: str, title: str, detail: str = "") -> None:
    """A titled line with its badge, then indented detail lines."""
    print(f"\n{BADGES.get(badge, badge):<12}{title}", file=out)
    for line in detail.splitlines():
        print(f"{'':12}{line}", file=out)


def step(out: TextIO, result: Any) -> None:
    """One deploy step: title, the `aws` equivalent, what AWS really does, warnings."""
    unchanged = "" if result.changed else " (already in place)"
    lines = [f"$ {short_cli(result.cli)}", f"In AWS: {result.aws_note}",
             f"Source: {result.source}"]
    lines += [f"{'Note' if w.startswith('Emulator') else 'Myth check'}: {w}"
              for w in result.warnings]
    say(out, result.badge, f"{result.title}{unchanged}", "\n".join(lines))


def status(out: TextIO, snap: dict[str, Any]) -> None:
    """Hosts with their tasks, services, and the latest events."""
    print(f"lab time {snap['lab_time']:.0f} s · runtime {snap['runtime']} · "
          f"{snap.get('endpoint', '')}", file=out)
    by_host: dict[str, list[dict[str, Any]]] = {}
    for t in snap["tasks"]:
        by_host.setdefault(t["host"] or "-", []).append(t)
    for h in snap["hosts"]:
        print(f"\n{h['instance_id']} ({h['type']}, {h['az']}, {h['status']}): "
              f"{h['remaining_cpu']}/{h['registered_cpu']} CPU units and "
              f"{h['remaining_memory']}/{h['registered_memory']} MiB free · image cache: "
              f"{', '.join(h['image_cache']) or 'empty'}", file=out)
        for t in by_host.get(h["instance_id"], []):
            _task_line(out, t)
    orphans = [t for host, ts in by_host.items() if host not in
               {h["instance_id"] for h in snap["hosts"]} for t in ts]
    if orphans:
        print("\ntasks on hosts that are gone:", file=out)
        for t in orphans:
            _task_line(out, t)
    lb = snap.get("load_balancer")
    if lb:
        print(f"\nload balancer {lb['url']} ({lb['algorithm']}; retry on connect error: "
              f"{'on' if lb['retry_on_connect_error'] else 'off'} — {lb['retry_label']})",
              file=out)
        for t in lb["targets"]:
            if t["state"] != "unused":
                print(f"  target {t['id'][:12]} {t['state']:<10} outstanding "
                      f"{t['outstanding']:>3}  requests {t.get('requests', 0)}", file=out)
        _listeners(out, lb)
    traffic = snap.get("traffic")
    if traffic:
        lat = traffic.get("latency", {})
        print(f"\ntraffic ({'running' if traffic['running'] else traffic['stop_reason']}): "
              f"target {traffic['target_rate']:.0f} tx/s, {traffic['completed']} answered, "
              f"errors {sum(traffic['errors'].values())}, dropped {traffic['dropped']}, "
              f"p50 {lat.get('p50_ms', 0):.1f} ms, p99 {lat.get('p99_ms', 0):.1f} ms",
              file=out)
    cap = snap.get("capacity")
    if cap:
        latest = cap["datapoints"][-1]["value"] if cap["datapoints"] else None
        print(f"\ncapacity provider {cap['capacity_provider']}: Auto Scaling group "
              f"{cap['auto_scaling_group']} desired {cap['desired_capacity']} "
              f"(min {cap['min_size']}, max {cap['max_size']}), target "
              f"{cap['target_capacity']}%, CapacityProviderReservation "
              f"{'-' if latest is None else f'{latest:.0f}%'}", file=out)
        if cap.get("last_action"):
            print(f"  last action: {cap['last_action']}", file=out)
    for s in snap["services"]:
        print(f"\nservice {s['name']}: desired {s['desired']}, running {s['running']}, "
              f"pending {s['pending']} ({s['strategy']})", file=out)
        for e in s["events"][:5]:
            print(f"  {e['lab']:>8.0f}s  {e['message']}", file=out)
    _clusters(out, snap.get("clusters") or [])


def _listeners(out: TextIO, lb: dict[str, Any]) -> None:
    """Each listener and where it really listens; the other target groups' proxies."""
    for x in lb.get("listeners") or []:
        where = x["url"] or "no local port (its target group has no proxy yet)"
        print(f"  listener {x['load_balancer']}:{x['port']} → {where} "
              f"({x['target_group'] or 'no forward action'})", file=out)
    for g in lb.get("target_groups") or []:
        states = ", ".join(f"{t['id'][:8]} {t['state']}" for t in g["targets"]
                           if t["state"] != "unused") or "no targets"
        print(f"  target group {g['target_group']} ({g['url']}, {g['algorithm']}): {states}",
              file=out)


def _clusters(out: TextIO, clusters: list[dict[str, Any]]) -> None:
    """The other clusters, compact: hosts, services with their latest event, tasks."""
    for c in clusters:
        print(f"\ncluster {c['cluster']}: {len(c['hosts'])} container instance(s), "
              f"{len(c['tasks'])} live task(s)", file=out)
        for s in c["services"]:
            print(f"  service {s['name']}: desired {s['desired']}, running {s['running']}, "
                  f"pending {s['pending']}", file=out)
            for e in s["events"][:1]:
                print(f"    {e['lab']:>8.0f}s  {e['message']}", file=out)


def _task_line(out: TextIO, t: dict[str, Any]) -> None:
    extra = f" — {t['stopped_reason']} (exit {t['exit_code']})" if t["stopped_reason"] else ""
    where = f" {t['url']}" if t["url"] and t["last_status"] != "STOPPED" else ""
    print(f"  task {t['task_id'][:12]} {t['last_status']:<12}{where}{extra}", file=out)
