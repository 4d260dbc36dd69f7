"""A second, private Kafka broker for tests that must start and stop one (never the shared
broker): `deploy/kafka.sh` with its own state directory and free ports. Its jars are the
repository's `.local/kafka/lib` (`make install`) or `CALLCTL_TEST_KAFKA_LIB` when there, else
downloaded by the script into the state directory (Maven, from its local repository when
cached)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from testkit.processes import ROOT, free_port

KAFKA_SH = ROOT / "deploy" / "kafka.sh"


def _jars() -> Path | None:
    for candidate in (os.environ.get("CALLCTL_TEST_KAFKA_LIB"), ROOT / ".local" / "kafka" / "lib"):
        if candidate and (Path(candidate) / ".version").is_file():
            return Path(candidate)
    return None


class PrivateKafka:
    def __init__(
        self,
        state_dir: Path,
        *,
        advertised_port: int | None = None,
        properties: Mapping[str, str] | None = None,
    ) -> None:
        """`advertised_port`: the port clients are told to use (a proxy in front of it);
        `properties`: broker settings over kafka.sh's own."""
        self.state_dir = state_dir
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{advertised_port or self.port}"
        jars = _jars()
        self._env = {
            **os.environ,
            "KAFKA_STATE_DIR": str(state_dir),
            "KAFKA_LIB_DIR": str(jars or state_dir / "lib"),
            "KAFKA_PORT": str(self.port),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
        }
        state_dir.mkdir(parents=True, exist_ok=True)
        extra = dict(properties or {})
        if advertised_port is not None:
            extra["advertised.listeners"] = f"PLAINTEXT://127.0.0.1:{advertised_port}"
        if extra:  # kafka.sh appends this file to its configuration
            path = state_dir / "extra.properties"
            path.write_text("".join(f"{key}={value}\n" for key, value in extra.items()))
            self._env["KAFKA_EXTRA_CONFIG"] = str(path)

    def _run(self, action: str, timeout_s: float) -> None:
        done = subprocess.run(
            [str(KAFKA_SH), action],
            env=self._env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        assert done.returncode == 0, f"kafka.sh {action}: {done.stdout}{done.stderr}"

    def start(self) -> None:
        self._run("start", 240)

    def stop(self) -> None:
        """Stops this broker only: kafka.sh acts on the pid file in our state directory."""
        self._run("stop", 60)
