"""docker-compose.yml: valid against the Compose Specification's JSON schema, and the kit's
rules — no Docker network created, every listener on 127.0.0.1, depends_on only on services
with a healthcheck, the LocalStack token from the environment only, init hooks that exist and
are executable, pinned images, a profile with LocalStack and one without.

The schema is the compose-spec project's ``compose-spec.json`` as check-jsonschema ships it
(its ``vendor.compose-spec`` built-in). Each rule is also shown to catch a broken copy, so no
check passes vacuously. ``docker-compose config -q`` runs too where Debian's docker-compose is
installed.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
TOKEN = "LOCALSTACK_AUTH_TOKEN"
# Servers on the host network must be told to listen on loopback: image → its setting.
LISTEN_SETTING = {"localstack/localstack": "GATEWAY_LISTEN", "registry": "REGISTRY_HTTP_ADDR"}
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|API_KEY", re.IGNORECASE)


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def compose_schema() -> dict[str, Any]:
    path = resources.files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json"
    return json.loads(path.read_text())


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as name → value (None: passed through from the caller)."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {k: None if v is None else str(v) for k, v in env.items()}
    out: dict[str, str | None] = {}
    for item in env:
        name, sep, value = str(item).partition("=")
        out[name] = value if sep else None
    return out


def _image_name(image: str) -> tuple[str, str]:
    image = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", image)  # ${VAR:-default} → default
    name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
    return name, tag


def _bind_sources(service: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for v in service.get("volumes", []):
        if isinstance(v, str):
            source, _, rest = v.partition(":")
            pairs.append((source, rest.split(":")[0]))
        elif v.get("type") == "bind":
            pairs.append((v["source"], v["target"]))
    return pairs


def problems(doc: dict[str, Any], root: Path = ROOT) -> list[str]:
    """Every way ``doc`` breaks the kit's rules, as sentences (empty: none)."""
    found: list[str] = []
    services: dict[str, Any] = doc.get("services", {})
    if doc.get("networks"):
        found.append("top-level networks: Compose would create a Docker network")
    for name, svc in services.items():
        env = environment(svc)
        if svc.get("network_mode") != "host":
            found.append(f"{name}: network_mode is not host (Compose would create a network)")
        for port in svc.get("ports", []):
            host_ip = (port.get("host_ip") if isinstance(port, dict)
                       else str(port).rsplit(":", 2)[0] if str(port).count(":") >= 2 else None)
            if host_ip != "127.0.0.1":
                found.append(f"{name}: port {port} is not bound to 127.0.0.1")
        image_name, tag = _image_name(str(svc.get("image", "")))
        if svc.get("image") and (not tag or tag == "latest"):
            found.append(f"{name}: image {svc['image']} is not pinned to a tag")
        setting = LISTEN_SETTING.get(image_name)
        if setting and svc.get("network_mode") == "host" and \
                not str(env.get(setting) or "").startswith("127.0.0.1:"):
            found.append(f"{name}: {setting} must put it on 127.0.0.1 (host network)")
        for key, value in env.items():
            if SECRET_NAME.search(key) and value is not None and \
                    not re.fullmatch(r"\$\{" + key + r"(:?[-?][^}]*)?\}", value):
                found.append(f"{name}: {key} is written into the file; pass it through from "
                             "the environment")
        for dep, spec in (svc.get("depends_on") or {}).items():
            target = services.get(dep)
            if not isinstance(spec, dict) or spec.get("condition") != "service_healthy":
                found.append(f"{name}: depends_on {dep} without condition service_healthy")
            if target is None:
                found.append(f"{name}: depends_on {dep}, which is not a service")
                continue
            check = target.get("healthcheck") or {}
            if not check.get("test") or check.get("disable"):
                found.append(f"{name}: depends_on {dep}, which has no healthcheck")
            if set(svc.get("profiles", [])) - set(target.get("profiles", [])):
                found.append(f"{name}: depends_on {dep} outside its profiles")
        for source, target in _bind_sources(svc):
            if not source.startswith("."):
                continue
            path = root / source
            if not path.exists():
                found.append(f"{name}: {source} does not exist")
            elif target.startswith("/etc/localstack/init/"):
                hooks = sorted(path.glob("*.sh"))
                if not hooks:
                    found.append(f"{name}: no *.sh hook in {source}")
                for hook in hooks:
                    if not os.access(hook, os.X_OK) or not hook.read_text().startswith("#!"):
                        found.append(f"{name}: hook {hook.name} is not an executable script")
        entry = svc.get("entrypoint")
        if isinstance(entry, list) and entry and str(entry[0]).startswith("/src/"):
            script = root / str(entry[0])[len("/src/"):]
            if not script.is_file() or not os.access(script, os.X_OK):
                found.append(f"{name}: entrypoint {entry[0]} is not an executable in the repo")
    if TOKEN not in environment(services.get("localstack", {})):
        found.append(f"localstack: {TOKEN} is not passed to it")
    profiles = {p: {n for n, s in services.items() if p in s.get("profiles", [])}
                for s in services.values() for p in s.get("profiles", [])}
    with_ls = [p for p, names in profiles.items() if "localstack" in names]
    without_ls = [p for p, names in profiles.items() if "localstack" not in names]
    for label, chosen in (("with", with_ls), ("without", without_ls)):
        if not any(any(n.startswith("kit") for n in profiles[p]) for p in chosen):
            found.append(f"no profile {label} LocalStack runs the kit")
    return found


# ---- the file as it is ---------------------------------------------------------------------

def test_the_file_is_valid_against_the_compose_specification_schema() -> None:
    errors = sorted(jsonschema.Draft202012Validator(compose_schema()).iter_errors(load()),
                    key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


def test_the_file_keeps_the_kits_rules() -> None:
    assert problems(load()) == []


def test_the_profiles_are_localstack_and_embedded() -> None:
    services = load()["services"]
    assert services["localstack"]["profiles"] == ["localstack"]
    assert services["kit"]["profiles"] == ["embedded"]
    assert "localstack" in services["kit-localstack"]["depends_on"]
    assert "AWS_ENDPOINT_URL" not in environment(services["kit"])  # the embedded emulator
    assert environment(services["kit-localstack"])["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"


def test_the_kit_runs_up_in_the_foreground() -> None:
    from cli.main import build_parser

    kit = load()["services"]["kit"]
    script = (ROOT / kit["entrypoint"][0][len("/src/"):]).read_text()
    assert "cli.main up --foreground" in script
    args = build_parser().parse_args(["up", "--foreground", "--runtime", "auto"])
    assert args.foreground and args.handler == "cli.up:command"


# ---- each rule catches a broken copy -------------------------------------------------------

def _broken(change) -> list[str]:
    doc = copy.deepcopy(load())
    change(doc)
    return problems(doc)


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["services"]["registry"].update(ports=["5000:5000"]),
     "port 5000:5000 is not bound to 127.0.0.1"),
    (lambda d: d["services"]["registry"].update(ports=[{"target": 5000, "published": 5000}]),
     "is not bound to 127.0.0.1"),
    (lambda d: d["services"]["registry"].pop("network_mode"), "registry: network_mode"),
    (lambda d: d.update(networks={"lab": {}}), "top-level networks"),
    (lambda d: d["services"]["localstack"].update(
        environment=["LOCALSTACK_AUTH_TOKEN=ls-AbCd1234", "GATEWAY_LISTEN=127.0.0.1:4566"]),
     "LOCALSTACK_AUTH_TOKEN is written into the file"),
    (lambda d: d["services"]["localstack"].update(environment=["GATEWAY_LISTEN=:4566"]),
     "GATEWAY_LISTEN must put it on 127.0.0.1"),
    (lambda d: d["services"]["localstack"].update(environment=["GATEWAY_LISTEN=:4566"]),
     "LOCALSTACK_AUTH_TOKEN is not passed"),
    (lambda d: d["services"]["registry"]["environment"].update(
        REGISTRY_HTTP_ADDR="0.0.0.0:5000"), "REGISTRY_HTTP_ADDR must put it on 127.0.0.1"),
    (lambda d: d["services"]["registry"].pop("healthcheck"),
     "kit: depends_on registry, which has no healthcheck"),
    (lambda d: d["services"]["kit"]["depends_on"]["registry"].update(
        condition="service_started"), "without condition service_healthy"),
    (lambda d: d["services"]["kit"]["depends_on"].update(localstack={
        "condition": "service_healthy"}), "kit: depends_on localstack outside its profiles"),
    (lambda d: d["services"]["localstack"].update(image="localstack/localstack:latest"),
     "is not pinned"),
    (lambda d: d["services"]["registry"].update(image="registry"), "is not pinned"),
    (lambda d: d["services"]["localstack"]["volumes"].__setitem__(
        1, "./localstack/nothing:/etc/localstack/init/ready.d:ro"), "does not exist"),
    (lambda d: d["services"]["kit"].update(entrypoint=["/src/scripts/none.sh"]),
     "is not an executable in the repo"),
    (lambda d: d["services"].pop("kit"), "no profile without LocalStack runs the kit"),
])
def test_each_rule_catches_a_broken_copy(change, expected: str) -> None:
    found = _broken(change)
    assert any(expected in p for p in found), found


def test_a_hook_that_is_not_executable_is_caught(tmp_path: Path) -> None:
    hooks = tmp_path / "localstack" / "ready.d"
    hooks.mkdir(parents=True)
    (hooks / "10-x.sh").write_text("#!/bin/bash\necho hi\n")
    for rel in ("scripts/compose-kit.sh",):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp_path / rel)
    assert any("hook 10-x.sh is not an executable script" in p
               for p in problems(load(), tmp_path))
    (hooks / "10-x.sh").chmod(0o755)
    assert problems(load(), tmp_path) == []


def test_the_schema_rejects_what_compose_would() -> None:
    doc = copy.deepcopy(load())
    doc["services"]["registry"]["healthcheck"]["retries"] = "many"
    doc["services"]["kit"]["depends_on"]["registry"]["condition"] = "service_ready"
    errors = list(jsonschema.Draft202012Validator(compose_schema()).iter_errors(doc))
    assert len(errors) >= 2


# ---- the hooks themselves ------------------------------------------------------------------

def test_the_ready_hook_is_valid_bash_and_idempotent_by_construction() -> None:
    hook = ROOT / "localstack" / "ready.d" / "10-fraudlab.sh"
    subprocess.run(["bash", "-n", str(hook)], check=True)
    text = hook.read_text()
    # It creates the repository only after looking for it, and names the kit's repository.
    assert text.index("describe-repositories --repository-names") < \
        text.index("create-repository")
    from cloud.aws.steps.ecr import REPOSITORY

    assert f"FRAUDLAB_REPOSITORY:-{REPOSITORY}" in text


# ---- Compose itself, where it is installed -------------------------------------------------

def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(
            ["docker", "compose", "version"], capture_output=True).returncode == 0:
        return ["docker", "compose"]
    return None


@pytest.mark.parametrize("profile", ["embedded", "localstack"])
def test_compose_accepts_the_file_without_a_token(profile: str) -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither docker-compose (Debian package docker-compose) nor "
                    "`docker compose` is installed")
    env = {k: v for k, v in os.environ.items() if k != TOKEN}
    done = subprocess.run([*command, "-f", str(COMPOSE), "--profile", profile, "config",
                           "-q"], capture_output=True, text=True, env=env, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0, done.stderr
