"""A Kafka broker with SASL_SSL (SCRAM-SHA-512) and mutual-TLS listeners, and a Redis with TLS
and a password, each on free ports with its own state dir, for the secured-connection tests.

Certificates are made here with openssl (a CA, the servers' certificate for 127.0.0.1 and
localhost, a client certificate with an encrypted key, and a second CA that nobody trusts).
The broker is `deploy/kafka.sh start` with a state dir, ports and a config overlay of its own;
its SCRAM users are made by the broker's own storage tool (`format --add-scram`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from service.settings import KafkaSettings, Settings

ROOT = Path(__file__).resolve().parents[3]
KAFKA_SH = ROOT / "deploy" / "kafka.sh"
SCRAM = "SCRAM-SHA-512"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


def free_ports(count: int) -> list[int]:
    """Ports free now, all different (the sockets stay open until every port is chosen)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@dataclass(frozen=True)
class Pki:
    ca: Path  # trusted by every client and server here
    untrusted_ca: Path  # a CA that signed nothing these servers present
    server_cert: Path
    server_key: Path
    server_p12: Path  # the same certificate and key, as the broker's PKCS12 keystore
    store_password: str
    client_cert: Path
    client_key: Path  # encrypted with client_key_password
    client_key_password: str


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    store_password = secrets.token_hex(12)
    client_key_password = secrets.token_hex(12)

    def ca(name: str) -> None:
        _openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.pem",
            cwd=folder,
        )  # fmt: skip

    def signed(name: str, subject: str, extensions: str, *key_args: str) -> None:
        _openssl(
            "req", "-newkey", "rsa:2048", *key_args, "-subj", subject,
            "-keyout", f"{name}.key", "-out", f"{name}.csr",
            cwd=folder,
        )  # fmt: skip
        (folder / f"{name}.ext").write_text(extensions)
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
            cwd=folder,
        )  # fmt: skip

    ca("ca")
    ca("untrusted-ca")
    signed(
        "server",
        "/CN=localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        "-nodes",
    )
    signed(
        "client",
        "/CN=call-control",
        "extendedKeyUsage=clientAuth\n",
        "-passout",
        f"pass:{client_key_password}",
    )
    _openssl(
        "pkcs12", "-export", "-in", "server.pem", "-inkey", "server.key", "-certfile", "ca.pem",
        "-name", "server", "-passout", f"pass:{store_password}", "-out", "server.p12",
        cwd=folder,
    )  # fmt: skip
    return Pki(
        ca=folder / "ca.pem",
        untrusted_ca=folder / "untrusted-ca.pem",
        server_cert=folder / "server.pem",
        server_key=folder / "server.key",
        server_p12=folder / "server.p12",
        store_password=store_password,
        client_cert=folder / "client.pem",
        client_key=folder / "client.key",
        client_key_password=client_key_password,
    )


@dataclass(frozen=True)
class SecuredKafka:
    sasl_ssl: str  # bootstrap of the SASL_SSL (SCRAM-SHA-512) listener
    mtls: str  # bootstrap of the SSL listener that requires a client certificate
    username: str
    password: str
    pki: Pki


def _broker_config(pki: Pki, sasl_port: int, mtls_port: int, controller_port: int) -> str:
    return f"""\
listeners=SASL_SSL://127.0.0.1:{sasl_port},SSL://127.0.0.1:{mtls_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=SASL_SSL://127.0.0.1:{sasl_port},SSL://127.0.0.1:{mtls_port}
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
# the broker talks to itself over the mutual-TLS listener, with its own certificate
inter.broker.listener.name=SSL
sasl.enabled.mechanisms={SCRAM}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={SCRAM_LOGIN}
ssl.keystore.type=PKCS12
ssl.keystore.location={pki.server_p12}
ssl.keystore.password={pki.store_password}
ssl.key.password={pki.store_password}
ssl.truststore.type=PEM
ssl.truststore.location={pki.ca}
listener.name.ssl.ssl.client.auth=required
"""


def _kafka_env(state_dir: Path, **extra: str) -> dict[str, str]:
    # KAFKA_LIB_DIR stays as it is: the jars `make install` downloaded serve this broker too
    return {**os.environ, "KAFKA_STATE_DIR": str(state_dir), **extra}


@contextlib.contextmanager
def secured_kafka(state_dir: Path, pki: Pki) -> Iterator[SecuredKafka]:
    sasl_port, mtls_port, controller_port = free_ports(3)
    username, password = "call-control", secrets.token_hex(16)
    state_dir.mkdir(parents=True, exist_ok=True)
    overlay = state_dir / "secured.properties"
    overlay.write_text(_broker_config(pki, sasl_port, mtls_port, controller_port))
    env = _kafka_env(
        state_dir,
        KAFKA_PORT=str(sasl_port),
        KAFKA_CONTROLLER_PORT=str(controller_port),
        KAFKA_EXTRA_CONFIG=str(overlay),
        KAFKA_ADD_SCRAM=f"{SCRAM}=[name={username},password={password}]",
        KAFKA_START_TIMEOUT="90",
    )
    started = subprocess.run(
        [str(KAFKA_SH), "start"], env=env, capture_output=True, text=True, check=False
    )
    if started.returncode != 0:
        raise RuntimeError(f"the secured broker did not start:\n{started.stdout}\n{started.stderr}")
    try:
        yield SecuredKafka(
            sasl_ssl=f"127.0.0.1:{sasl_port}",
            mtls=f"127.0.0.1:{mtls_port}",
            username=username,
            password=password,
            pki=pki,
        )
    finally:
        subprocess.run(
            [str(KAFKA_SH), "stop"], env=env, capture_output=True, check=False, timeout=60
        )


@dataclass(frozen=True)
class SecuredRedis:
    port: int
    password: str
    pki: Pki

    def url(self, *, password: str | None = None, ca: Path | None = None, db: int = 0) -> str:
        secret = self.password if password is None else password
        return f"rediss://:{secret}@127.0.0.1:{self.port}/{db}?ssl_ca_certs={ca or self.pki.ca}"


@contextlib.contextmanager
def secured_redis(state_dir: Path, pki: Pki) -> Iterator[SecuredRedis]:
    """Debian's redis-server with TLS only (no plaintext port) and a password."""
    (port,) = free_ports(1)
    password = secrets.token_hex(16)
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "redis.conf"  # the password stays off the command line
    config.write_text(
        f"port 0\ntls-port {port}\nbind 127.0.0.1\n"
        f"tls-cert-file {pki.server_cert}\ntls-key-file {pki.server_key}\n"
        f"tls-ca-cert-file {pki.ca}\ntls-auth-clients no\n"
        f'requirepass {password}\nsave ""\nappendonly no\ndir {state_dir}\n'
    )
    log = (state_dir / "redis.log").open("wb")
    process = subprocess.Popen(
        ["redis-server", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log
    )
    server = SecuredRedis(port=port, password=password, pki=pki)
    try:
        _wait_for_redis(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _wait_for_redis(server: SecuredRedis, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    client = redis.Redis.from_url(server.url())
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {process.returncode}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        client.close()


def sasl_env(broker: SecuredKafka, **overrides: str) -> dict[str, str]:
    """The CALLCTL_KAFKA__* variables for the SASL_SSL listener."""
    return {
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": broker.sasl_ssl,
        "CALLCTL_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "CALLCTL_KAFKA__SASL_MECHANISM": SCRAM,
        "CALLCTL_KAFKA__SASL_USERNAME": broker.username,
        "CALLCTL_KAFKA__SASL_PASSWORD": broker.password,
        "CALLCTL_KAFKA__SSL_CAFILE": str(broker.pki.ca),
        **overrides,
    }


def mtls_env(broker: SecuredKafka, **overrides: str) -> dict[str, str]:
    """The CALLCTL_KAFKA__* variables for the mutual-TLS listener."""
    pki = broker.pki
    return {
        "CALLCTL_KAFKA__BOOTSTRAP_SERVERS": broker.mtls,
        "CALLCTL_KAFKA__SECURITY_PROTOCOL": "SSL",
        "CALLCTL_KAFKA__SSL_CAFILE": str(pki.ca),
        "CALLCTL_KAFKA__SSL_CERTFILE": str(pki.client_cert),
        "CALLCTL_KAFKA__SSL_KEYFILE": str(pki.client_key),
        "CALLCTL_KAFKA__SSL_KEY_PASSWORD": pki.client_key_password,
        **overrides,
    }


def kafka_settings(env: dict[str, str], **fields: Any) -> KafkaSettings:
    """`KafkaSettings` from such variables, validated as the service would read them."""
    prefix = "CALLCTL_KAFKA__"
    values = {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
    return KafkaSettings.model_validate({**values, **fields})


def with_kafka(settings: Settings, kafka: KafkaSettings) -> Settings:
    """`settings` with another Kafka section, keeping the test's group and topic options."""
    keep = settings.kafka.model_dump(
        include={"group_id", "create_topics", "topic_partitions", "commit_interval_ms"}
    )
    return settings.model_copy(update={"kafka": kafka.model_copy(update=keep)})


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def callctl_program() -> str:
    """The `callctl` console script of this environment (as an operator runs it)."""
    return str(Path(sys.executable).with_name("callctl"))


def service_program() -> list[str]:
    return [sys.executable, "-m", "service"]


async def run_program(
    program: list[str], *args: str, env: dict[str, str], timeout_s: float = 90
) -> Run:
    """`PROGRAM ARGS` with `env` added to this environment, from the repo root."""
    process = await asyncio.create_subprocess_exec(
        *program, *args,
        cwd=ROOT, env={**os.environ, **env}, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())
