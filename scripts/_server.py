"""``maillage serve`` in a subprocess on a loopback port, for the crash and load tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["ROOT", "Server", "create_key", "free_port"]

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def create_key(env: dict[str, str], name: str) -> str:
    """An admin key made with ``maillage keys create`` (the token is its last line of output)."""
    out = subprocess.run([sys.executable, "-m", "service.cli", "keys", "create", "--name", name, "--role", "admin"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"maillage keys create failed: {out.stderr.strip()[-500:]}")
    return out.stdout.strip().splitlines()[-1].strip()


class Server:
    """``maillage serve`` on ``127.0.0.1:port`` with ``env``, its output appended to ``home/serve.log``."""

    def __init__(self, home: Path, port: int, env: dict[str, str]) -> None:
        self.home, self.port, self.env = home, port, env
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = home / "serve.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_offset = 0

    def start(self) -> None:
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--log-level", "warning"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )

    def wait_ready(self, timeout: float) -> float:
        """Seconds until ``/readyz`` answers 200; raises if the process exits or the time runs out."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RuntimeError(f"the server exited with status {code} while starting")
            try:
                if httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server was not ready within {timeout:.0f} s")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` (SIGKILL by default) and wait for the process to end."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=30)
        self.proc = None

    def log_since_start(self) -> str:
        if not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as fh:
            fh.seek(self.log_offset)
            return fh.read().decode("utf-8", errors="replace")
