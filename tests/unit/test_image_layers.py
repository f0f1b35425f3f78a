"""The layer table, its classification and the pull-time arithmetic (pure, no Docker)."""

from __future__ import annotations

import pytest

from cloud.image.layers import (
    ASSUMED_BANDWIDTH_BYTES_PER_S,
    GZIP_RATIO_ESTIMATE,
    classify,
    download_bytes,
    instruction,
    layer_table,
    pull_costs,
    pull_seconds,
    render_table,
    size_difference,
    totals_by_kind,
)

# `APIClient.history("fraudlab/service:slim")` on the classic builder, newest first.
NOP = "/bin/sh -c #(nop) "
HISTORY = [
    {"CreatedBy": NOP + ' LABEL org.opencontainers.image.title=fraudlab-service', "Size": 0},
    {"CreatedBy": NOP + "COPY dir:97b6c238cc434c137f641b4d1b0a75edf1c54398c2d8 in /app/service/ ",
     "Size": 133_893},
    {"CreatedBy": NOP + "COPY dir:450c24304243ebcebcaf36d1d4887c711563f214a57b in /opt/venv ",
     "Size": 99_540_533},
    {"CreatedBy": NOP + ' CMD ["gunicorn" "-c" "python:service.gunicorn_conf"]', "Size": 0},
    {"CreatedBy": NOP + " USER 10001:10001", "Size": 0},
    {"CreatedBy": NOP + "WORKDIR /app", "Size": 0},
    {"CreatedBy": "/bin/sh -c groupadd --system --gid 10001 app  && useradd --system app",
     "Size": 4_311},
    {"CreatedBy": NOP + " ENV LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1", "Size": 0},
    {"CreatedBy": "", "Size": 265_433_543},
]
# The pushed image's config (oldest first; WORKDIR made a layer) and manifest sizes.
CONFIG = {"history": [{}, {"empty_layer": True}, {}, {}, {"empty_layer": True},
                      {"empty_layer": True}, {}, {}, {"empty_layer": True}]}
MANIFEST = {"layers": [{"size": 129_703_104}, {"size": 1_122}, {"size": 125},
                       {"size": 31_484_898}, {"size": 70_743}]}


def test_instruction_shortens_what_docker_records() -> None:
    assert instruction(NOP + " ENV A=1 B=2") == "ENV A=1 B=2"
    assert instruction("/bin/sh -c groupadd x") == "RUN groupadd x"
    assert instruction(NOP + "COPY dir:450c24304243ebcebcaf in /opt/venv ") == "COPY → /opt/venv"
    assert instruction("|2 PIP_INDEX_URL=x EXTRA_CA_CERTS= /bin/sh -c pip install -r r.txt") \
        == "RUN pip install -r r.txt"
    assert instruction("") == "(imported base image)"
    long = instruction("/bin/sh -c " + "x" * 200, width=20)
    assert len(long) == 20 and long.endswith("…")


def test_classify() -> None:
    assert classify("", 265_000_000, base=True)[0] == "base"
    assert classify(NOP + "COPY dir:abcdef12 in /opt/venv ", 99_000_000)[0] == "dependencies"
    assert classify("/bin/sh -c /opt/venv/bin/pip install -r x", 5)[0] == "dependencies"
    assert classify(NOP + "COPY dir:abcdef12 in /app/service/ ", 1)[0] == "code+model"
    assert classify(NOP + "COPY file:abcdef12 in /app/artifacts/m.tflite ", 1)[0] == "model"
    assert classify(NOP + " ENV A=1", 0)[0] == "metadata"
    assert classify("/bin/sh -c groupadd app", 4311)[0] == "setup"
    assert classify(NOP + "WORKDIR /app", 0, empty=True)[0] == "metadata"


def test_table_from_history_alone() -> None:
    rows = layer_table(HISTORY, base_entries=1)
    assert [r.index for r in rows] == list(range(len(HISTORY)))
    assert rows[0].kind == "base" and rows[0].size_bytes == 265_433_543
    kinds = {r.instruction: r.kind for r in rows}
    assert kinds["COPY → /opt/venv"] == "dependencies"
    assert kinds["COPY → /app/service/"] == "code+model"
    assert all(r.compressed_bytes is None for r in rows)
    # Without the config, size 0 means no layer: the unpacked sizes add up to the image's.
    assert sum(r.size_bytes for r in rows if not r.empty) == sum(h["Size"] for h in HISTORY)
    size, measured = download_bytes(rows)
    assert not measured
    assert size == round(sum(h["Size"] for h in HISTORY) * GZIP_RATIO_ESTIMATE)


def test_table_with_the_pushed_manifest_gets_compressed_sizes() -> None:
    rows = layer_table(HISTORY, base_entries=1, config=CONFIG, manifest=MANIFEST)
    layers = [r for r in rows if not r.empty]
    assert [r.compressed_bytes for r in layers] == [m["size"] for m in MANIFEST["layers"]]
    workdir = next(r for r in rows if r.instruction == "WORKDIR /app")
    assert not workdir.empty and workdir.compressed_bytes == 125 and workdir.kind == "setup"
    assert download_bytes(rows) == (sum(m["size"] for m in MANIFEST["layers"]), True)
    totals = totals_by_kind(rows)
    assert totals["dependencies"]["compressed_bytes"] == 31_484_898
    assert totals["base"]["layers"] == 1
    assert "metadata" not in totals


def test_a_config_that_does_not_match_is_ignored() -> None:
    rows = layer_table(HISTORY, config={"history": [{}]}, manifest=MANIFEST)
    assert all(r.compressed_bytes is None for r in rows)


def test_bad_base_count() -> None:
    with pytest.raises(ValueError, match="base_entries"):
        layer_table(HISTORY, base_entries=len(HISTORY) + 1)


def test_pull_time_per_host() -> None:
    assert pull_seconds(100_000_000) == pytest.approx(100_000_000 / ASSUMED_BANDWIDTH_BYTES_PER_S)
    assert pull_seconds(10, bandwidth_bytes_per_s=5) == 2
    with pytest.raises(ValueError):
        pull_seconds(-1)
    with pytest.raises(ValueError):
        pull_seconds(1, 0)
    slim_rows = layer_table(HISTORY, base_entries=1, config=CONFIG, manifest=MANIFEST)
    full_history = [{"CreatedBy": "/bin/sh -c #(nop) COPY dir:ffff0000 in /opt/venv ",
                     "Size": 1_500_000_000}, *HISTORY[3:]]
    full_rows = layer_table(full_history, base_entries=1)
    slim, full = pull_costs({"slim": slim_rows, "full": full_rows}, hosts=3)
    assert slim.measured and not full.measured
    assert slim.cluster_bytes == 3 * slim.download_bytes
    assert full.seconds_per_host > slim.seconds_per_host
    sentence = size_difference(slim, full)
    assert "estimated" in sentence and "3 hosts" in sentence and "50 MB/s" in sentence
    with pytest.raises(ValueError):
        pull_costs({"slim": slim_rows}, hosts=0)


def test_render_table() -> None:
    rows = layer_table(HISTORY, base_entries=1, config=CONFIG, manifest=MANIFEST)
    lines = render_table(rows)
    assert lines[0].split()[:2] == ["#", "kind"]
    assert len(lines) == 1 + sum(1 for r in rows if not r.empty)
    assert any("31.5 MB" in line and "dependencies" in line for line in lines)
    assert len(render_table(rows, empty=True)) == 1 + len(rows)
