"""The files of an install without containers (docs/deploy.md): the systemd unit is verified by
``systemd-analyze`` and scored by its offline security audit; the reverse proxy's limits follow the
settings' defaults and ``nginx -t`` accepts it; ``maillage serve`` believes the proxy's headers from the
addresses the setting names only. Tools that are absent skip with the reason."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "deploy" / "maillage.service"
NGINX = ROOT / "deploy" / "nginx.conf"
MAX_EXPOSURE = 2.0  # systemd-analyze security: 0 is fully locked down, 10 is unprotected


def directives(text: str, sep: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition(sep)
            found.setdefault(key.strip(), []).append(value.strip().rstrip(";").strip())
    return found


def runnable_unit(tmp_path: Path, source: Path = UNIT) -> Path:
    """The unit with its commands pointed at this environment's ``maillage`` (verify checks they exist)."""
    exe = shutil.which("maillage", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the maillage command is not installed in this environment (pip install -e .)")
    unit = tmp_path / source.name
    unit.write_text(source.read_text().replace("/opt/maillage/bin/maillage", exe))
    return unit


def test_the_unit_runs_as_its_own_user_with_the_hardening_the_guide_lists() -> None:
    d = directives(UNIT.read_text(), "=")
    assert d["User"] == ["maillage"] and d["EnvironmentFile"] == ["/etc/maillage/maillage.env"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "PrivateDevices": "yes", "StateDirectory": "maillage"}.items():
        assert d[key] == [value], key
    assert d["CapabilityBoundingSet"] == [""]
    assert any("--host 127.0.0.1" in cmd for cmd in d["ExecStart"])
    assert d["ExecStartPre"][0].endswith("maillage migrate") and d["RestartPreventExitStatus"] == ["2"]


def test_systemd_analyze_verifies_the_unit_without_a_warning(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    done = subprocess.run(["systemd-analyze", "verify", str(runnable_unit(tmp_path))],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_backup_timer_and_its_service_verify_and_write_a_new_folder_each_run(tmp_path: Path) -> None:
    service = ROOT / "deploy" / "maillage-backup.service"
    d = directives(service.read_text(), "=")
    assert d["User"] == ["maillage"] and d["Type"] == ["oneshot"] and "maillage backup" in d["ExecStart"][0]
    assert "$(date" in d["ExecStart"][0], "maillage backup refuses an existing folder: one per run"
    assert d["EnvironmentFile"] == directives(UNIT.read_text(), "=")["EnvironmentFile"]
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    timer = tmp_path / "maillage-backup.timer"
    timer.write_text((ROOT / "deploy" / "maillage-backup.timer").read_text())
    done = subprocess.run(["systemd-analyze", "verify", str(runnable_unit(tmp_path, service)), str(timer)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_systemd_analyze_verify_does_see_a_bad_directive(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = runnable_unit(tmp_path)
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=stricte"))
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False)
    assert "ProtectSystem" in done.stderr or "protect system" in done.stderr.lower(), done.stderr


def test_the_unit_scores_as_well_protected_in_systemds_own_audit(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    done = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(runnable_unit(tmp_path))],
                          capture_output=True, text=True, check=False)
    if "--offline" in done.stderr and "unrecognized" in done.stderr:
        pytest.skip("this systemd-analyze has no offline security audit (systemd < 250)")
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout + done.stderr)
    assert score is not None, done.stdout + done.stderr
    assert float(score.group(1)) <= MAX_EXPOSURE, done.stdout


def test_the_proxys_limits_follow_the_settings_defaults() -> None:
    d = directives(NGINX.read_text(), " ")
    fields = Settings.model_fields
    assert d["client_max_body_size"] == [str(fields["max_body_bytes"].default)]
    read_timeout = float(d["proxy_read_timeout"][0].removesuffix("s"))
    assert fields["request_timeout_s"].default < read_timeout <= fields["request_timeout_s"].default + 10
    headers = {v.split()[0]: v.split()[1] for v in d["proxy_set_header"]}
    assert headers["X-Forwarded-For"] == "$remote_addr" and headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["Host"] == "$host"
    assert any("ssl" in v.split() for v in d["listen"]) and d["ssl_protocols"] == ["TLSv1.2 TLSv1.3"]
    upstream = [v for v in d["server"] if v != "{"]
    assert upstream == ["127.0.0.1:8000"], "the upstream is the address the systemd unit serves on"


def test_nginx_accepts_the_proxy_configuration(tmp_path: Path) -> None:
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no test certificate can be made")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   capture_output=True, check=True)
    site = (NGINX.read_text().replace("/etc/ssl/maillage/fullchain.pem", str(tmp_path / "cert.pem"))
            .replace("/etc/ssl/maillage/privkey.pem", str(tmp_path / "key.pem"))
            .replace("/var/log/nginx/", f"{tmp_path}/"))
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
                                         f"events {{}}\nhttp {{\n    include {tmp_path}/site.conf;\n}}\n")
    done = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path),
                           "-e", str(tmp_path / "error.log")], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "test is successful" in done.stderr, done.stderr


@pytest.mark.parametrize("allowed", [None, "10.0.0.5,10.0.0.6"])
def test_serve_believes_forwarded_headers_from_the_configured_proxies_only(
        allowed: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setenv("MAILLAGE_HOME", str(tmp_path))
    monkeypatch.delenv("MAILLAGE_DATABASE_URL", raising=False)
    if allowed:
        monkeypatch.setenv("MAILLAGE_FORWARDED_ALLOW_IPS", allowed)
    else:
        monkeypatch.delenv("MAILLAGE_FORWARDED_ALLOW_IPS", raising=False)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 0, result.output
    assert seen["proxy_headers"] is True and seen["forwarded_allow_ips"] == (allowed or "127.0.0.1")
    assert seen["timeout_keep_alive"] > 60, "longer than the proxy's upstream keep-alive (deploy/nginx.conf)"
