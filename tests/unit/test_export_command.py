"""``fraudlab export``'s edges without a cloud: the error paths and writing files."""

from __future__ import annotations

import io

import pytest
import yaml

from cli import export as command
from cli.main import main
from cloud.export.state import example


def test_a_bad_format_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["export", "--format", "helm"])
    assert exc.value.code == 2
    assert "invalid choice: 'helm'" in capsys.readouterr().err
    assert command.run("helm", None, io.StringIO(), err := io.StringIO()) == 2
    assert "--format must be one of" in err.getvalue()


def test_no_local_cloud_exits_1_with_the_reason(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FRAUDLAB_STATE_DIR", str(tmp_path))
    assert main(["export", "--format", "kubernetes"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "no local cloud is running" in captured.err and "fraudlab deploy" in captured.err


def test_write_to_stdout_keeps_the_document_clean() -> None:
    out = io.StringIO()
    written = command.write(example(), "kubernetes", None, out)
    assert written.paths == ()
    docs = [d for d in yaml.safe_load_all(out.getvalue()) if d]
    assert [d["kind"] for d in docs] == ["Deployment", "Service", "HorizontalPodAutoscaler"]
    assert "[REAL]" in written.frame and "[EMULATED]" in written.frame
    assert "written to stdout" in written.frame
    assert "kubectl apply -f fraudlab-k8s.yaml" in written.frame


def test_write_a_file_and_a_directory(tmp_path) -> None:
    d = example()
    cfn = command.write(d, "cloudformation", str(tmp_path / "stack.yaml"), io.StringIO())
    assert cfn.paths == (tmp_path / "stack.yaml",)
    assert yaml.safe_load(cfn.paths[0].read_text())["Resources"]["Service"]["Properties"][
        "DesiredCount"] == d.desired_count
    assert f"aws cloudformation deploy --template-file {tmp_path / 'stack.yaml'}" in cfn.frame
    k8s = command.write(d, "kubernetes", str(tmp_path / "k8s") + "/", io.StringIO())
    assert sorted(p.name for p in k8s.paths) == ["deployment.yaml",
                                                 "horizontalpodautoscaler.yaml",
                                                 "service.yaml"]
    assert yaml.safe_load((tmp_path / "k8s" / "deployment.yaml").read_text())["spec"][
        "replicas"] == d.desired_count
    assert f"kubectl apply -f {tmp_path / 'k8s'}/" in k8s.frame


def test_output_into_a_missing_directory_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        command.write(example(), "cloudformation", str(tmp_path / "nope" / "x.yaml"),
                      io.StringIO())
