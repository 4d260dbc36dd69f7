"""Toxiproxy (github.com/Shopify/toxiproxy, v2.5.0) driven over its HTTP API: a TCP proxy per
dependency, with toxics (latency, timeout, reset_peer, slow_close, slicer, ...) added and
removed while the service runs.

The server binary is `$CALLCTL_TOXIPROXY_SERVER`, else `toxiproxy-server` on PATH, else the
`server` that `go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0` puts in
`$(go env GOPATH)/bin` (`make toxiproxy`). Without it the fault tests fail, saying how to get it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from testkit.processes import free_port

INSTALL_HINT = (
    "toxiproxy-server not found: run `make toxiproxy` (go install "
    "github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0) or set CALLCTL_TOXIPROXY_SERVER"
)


def server_binary() -> str:
    configured = os.environ.get("CALLCTL_TOXIPROXY_SERVER")
    if configured:
        return configured
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        return on_path
    gopath = os.environ.get("GOPATH") or str(Path.home() / "go")
    candidate = Path(gopath) / "bin" / "server"
    if candidate.is_file():
        version = subprocess.run(
            [str(candidate), "-version"], capture_output=True, text=True, timeout=10
        )
        if "toxiproxy" in version.stdout + version.stderr:
            return str(candidate)
    pytest.fail(INSTALL_HINT, pytrace=False)


class Proxy:
    """One proxied dependency: the service connects to `listen`, Toxiproxy to `upstream`."""

    def __init__(self, api: httpx.Client, name: str, port: int) -> None:
        self._api = api
        self.name = name
        self.port = port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(
        self,
        kind: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: Any,
    ) -> str:
        """Add a toxic; returns its name (to remove it). Attributes as Toxiproxy names them,
        e.g. latency=200, jitter=50; timeout=0 (a black hole); average_size=10, delay=50000."""
        toxic = name or f"{kind}_{stream}"
        response = self._api.post(
            f"/proxies/{self.name}/toxics",
            json={
                "name": toxic,
                "type": kind,
                "stream": stream,
                "toxicity": toxicity,
                "attributes": attributes,
            },
        )
        response.raise_for_status()
        return toxic

    def remove(self, toxic: str) -> None:
        self._api.delete(f"/proxies/{self.name}/toxics/{toxic}").raise_for_status()

    def clear(self) -> None:
        for toxic in self._api.get(f"/proxies/{self.name}/toxics").json():
            self.remove(toxic["name"])

    def enabled(self, on: bool) -> None:
        """Off: the listener closes and every connection through it is cut."""
        self._api.post(f"/proxies/{self.name}", json={"enabled": on}).raise_for_status()

    @contextmanager
    def toxic(self, kind: str, **options: Any) -> Iterator[str]:
        name = self.add(kind, **options)
        try:
            yield name
        finally:
            self.remove(name)


class Toxiproxy:
    def __init__(self, api_port: int) -> None:
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10)

    def proxy(self, name: str, upstream: str) -> Proxy:
        port = free_port()
        response = self.api.post(
            "/proxies",
            json={
                "name": name,
                "listen": f"127.0.0.1:{port}",
                "upstream": upstream,
                "enabled": True,
            },
        )
        response.raise_for_status()
        return Proxy(self.api, name, port)

    def proxy_named(self, name: str, port: int) -> Proxy:
        """A proxy made on a port chosen beforehand (a broker must advertise it at start)."""
        return Proxy(self.api, name, port)


@contextmanager
def toxiproxy(log_path: Path) -> Iterator[Toxiproxy]:
    """A private toxiproxy-server on a free port, stopped on exit."""
    port = free_port()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [server_binary(), "-host", "127.0.0.1", "-port", str(port)],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
    proxy = Toxiproxy(port)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                proxy.api.get("/version").raise_for_status()
                break
            except httpx.HTTPError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"toxiproxy-server did not start; see {log_path}") from None
                time.sleep(0.05)
        yield proxy
    finally:
        proxy.api.close()
        process.terminate()
        process.wait(10)
