"""Who owns a leftover (a container, a host's layer store): a process named by its pid and
its start time, since pids are reused."""

from __future__ import annotations

from cloud.core.state_dir import pid_alive


def start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ("" where there is no /proc)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    return stat[stat.rindex(b")") + 2:].split()[19].decode()


def process_alive(pid: int, start: str = "") -> bool:
    """Whether process ``pid`` runs and, when ``start`` is given, is the one that started then
    (a reused pid starts later)."""
    return pid_alive(pid) and (not start or start_time(pid) == start)
