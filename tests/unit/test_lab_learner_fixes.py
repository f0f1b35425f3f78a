"""The labs' learner-facing fixes: no raw escapes, no promise of scaling without a policy, no
list of unused targets, plurals that agree."""

from __future__ import annotations

from labs.kit.template import result_html
from labs.kit.views import routing_html, spike_note


def test_results_show_real_characters_not_escapes() -> None:
    out = result_html({"stages": ["PROVISIONING → PENDING"], "exit_code": 137})
    assert "→" in out and "\\u2192" not in out


def test_the_spike_promises_scaling_only_with_a_policy() -> None:
    assert "no scaling policy" in spike_note({"scaling": {"policies": []}})
    assert "raises the desired count" in spike_note({"scaling": {"policies": [{"p": 1}]}})


def test_unused_targets_are_not_listed() -> None:
    lb = {"targets": [{"id": "a" * 12, "state": "healthy", "requests": 3},
                      *[{"id": f"u{i:011d}", "state": "unused"} for i in range(14)]]}
    out = routing_html({"load_balancer": lb})
    assert "aaaaaaaa" in out and "unused" not in out
