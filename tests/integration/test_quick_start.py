"""The README's quick start on a fresh machine: a clean clone, no `uv` on PATH, a clean
environment. `make run` must find (or install) the pinned uv itself and hand it to its scripts;
the README's callctl lines must then work as written. Uses the test broker (so `make run`
starts none: CALLCTL_KAFKA__BOOTSTRAP_SERVERS) and stops only what it started: the service and
the clone's simulator."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from testkit.processes import ROOT, free_port

pytestmark = pytest.mark.integration

README = ROOT / "README.md"


def readme_lines() -> list[str]:
    """The command lines of the README's "Send a command, see its result" block."""
    text = README.read_text()
    section = text[text.index("## Send a command, see its result") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block is not None, "no bash block under 'Send a command, see its result'"
    return [line for line in block.group(1).splitlines() if line.strip()]


# The machine's own network settings (a proxy, its CA bundle): a fresh machine has them too.
MACHINE_SETTINGS = re.compile(
    r"(?i)(proxy|ssl_cert|ca_bundle|ca_certs|cert_file|^pip_cert$|^pip_index)"
)


def machine_settings() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if MACHINE_SETTINGS.search(k)}


def path_without_uv() -> str:
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if d]
    return os.pathsep.join(d for d in dirs if not (Path(d) / "uv").exists())


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_readme_quick_start_from_a_clean_clone(kafka: str, tmp_path: Path) -> None:
    clone = tmp_path / "call-control"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    path = path_without_uv()
    assert shutil.which("uv", path=path) is None
    run_id = uuid.uuid4().hex[:8]
    http_port = free_port()
    env = {
        **machine_settings(),
        "PATH": path,
        "HOME": os.environ["HOME"],
        "LANG": "C.UTF-8",
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": kafka,
        "CALLCTL_KAFKA__GROUP_ID": f"qs-{run_id}",
        "CALLCTL_TOPICS__COMMANDS": f"qs.commands.{run_id}",
        "CALLCTL_TOPICS__RESULTS": f"qs.results.{run_id}",
        "CALLCTL_TOPICS__SNAPSHOTS": f"qs.snapshots.{run_id}",
        "CALLCTL_TOPICS__DEAD_LETTER": f"qs.dead-letter.{run_id}",
        "CALLCTL_HTTP_PORT": str(http_port),
        "SIM_PORT": str(free_port()),
    }
    log_path = tmp_path / "make-run.log"
    with log_path.open("wb") as log:
        make_run = subprocess.Popen(
            ["make", "run"],
            cwd=clone,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while True:
            assert make_run.poll() is None, f"make run exited:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"not ready in 300 s:\n{log_path.read_text()}"
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)

        lines = readme_lines()
        setup = "\n".join(line for line in lines if line.startswith("source "))
        assert setup, "the README no longer says how callctl gets on PATH"
        for line in lines:
            if line.startswith("source "):
                continue
            expected = 2 if "# exit 2" in line else 0
            done = subprocess.run(
                ["bash", "-c", f"{setup}\n{line}"],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
            )
            assert done.returncode == expected, f"{line}\n{done.stdout}{done.stderr}"
            if "send hangup" in line:
                assert "succeeded" in done.stdout, done.stdout
            if line.startswith("callctl call "):
                assert "FINAL" in done.stdout, done.stdout
    finally:
        if make_run.poll() is None:
            # SIGTERM to the service (make's recipe exec'd it), as Ctrl-C would reach it: a
            # clean stop makes `make run` exit 0
            for child in children(make_run.pid):
                os.kill(child, signal.SIGTERM)
            try:
                make_run.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(make_run.pid, signal.SIGKILL)
        subprocess.run(["deploy/simulator.sh", "stop"], cwd=clone, env=env, timeout=30, check=False)
    assert make_run.returncode == 0, log_path.read_text()
