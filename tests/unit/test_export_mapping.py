"""The ECS ↔ Kubernetes mapping: the rows the case study's Part 8 needs, each with its source
and correction; the doc renders exactly this data; the CLI prints it."""

from __future__ import annotations

from pathlib import Path

from cli.main import main
from cloud.export import mapping

DOC = Path(__file__).resolve().parents[2] / "docs" / "aws-vs-kubernetes.md"


def test_the_rows_part_8_needs_are_there() -> None:
    text = " ".join(f"{r.ecs} {r.kubernetes}" for r in mapping.ROWS)
    for ecs, k8s in [("desiredCount", "replicas"), ("target tracking", "HorizontalPodAutoscaler"),
                     ("placementStrategy", "topologySpreadConstraints"),
                     ("NEW task", "CrashLoopBackOff"), ("round_robin", "iptables"),
                     ("capacity provider", "Cluster Autoscaler"),
                     ("ECS_IMAGE_PULL_BEHAVIOR", "imagePullPolicy")]:
        assert ecs in text and k8s in text, (ecs, k8s)
    hpa = next(r for r in mapping.ROWS if "HorizontalPodAutoscaler" in r.kubernetes)
    for timing in ("3 of 3", "15 s", "0.1", "300 s"):
        assert timing in hpa.differs


def test_every_row_has_a_source_and_a_correction() -> None:
    for row in mapping.ROWS:
        assert "ecs-facts.md §" in row.source, row.concept
        assert row.correction.strip(), row.concept
    assert "more automated" in mapping.CASE_STUDY_CLAIM
    assert "not built in" in mapping.CORRECTION
    assert [d["concept"] for d in mapping.as_dicts()] == [r.concept for r in mapping.ROWS]


def test_the_doc_renders_the_mapping_data() -> None:
    doc = DOC.read_text()
    start = doc.index("-->\n", doc.index("<!-- mapping:start")) + 4
    end = doc.index("<!-- mapping:end -->")
    assert doc[start:end] == mapping.markdown(), \
        "docs/aws-vs-kubernetes.md is out of date: regenerate its table from mapping.markdown()"
    rows = [line for line in mapping.markdown().splitlines() if line.startswith("| ")]
    assert len(rows) == len(mapping.ROWS) + 1  # the header and one line per row


def test_the_terminal_table_fits_its_width() -> None:
    for width in (80, 120):
        lines = mapping.table(width).splitlines()
        assert max(len(line) for line in lines) <= width
        assert sum(line.startswith("== ") for line in lines) == len(mapping.ROWS)


def test_cli_prints_the_mapping(capsys) -> None:
    assert main(["export", "--mapping"]) == 0
    out = capsys.readouterr().out
    assert out == mapping.table()
    assert main(["export", "--format", "mapping"]) == 0
    assert capsys.readouterr().out == out
