"""The "naive" contender: the obvious FastStream handler, one message at a time.

`@broker.subscriber(topic, group_id=..., ack_policy=AckPolicy.ACK)`: for each command, decode
it and plan its request as the service does (`service.domain.decode`, `.plan`), make one signed
request with the service's `httpx.AsyncClient` settings (`service.sinch`), publish a small
result with `broker.publish(...)` (which waits for the broker's acknowledgement), and let
FastStream ack (a synchronous offset commit per message). Default broker, default logging.

    python -m bench.naive --bootstrap B --topic T --results R --group G --sinch-url URL
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from typing import Any

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from bench.common import MAX_COMMAND_BYTES
from service.domain.decode import Rejection, decode_command
from service.domain.plan import plan
from service.settings import Settings, SinchSettings
from service.sinch import SignedAuth, SinchClient, SinchRequest, SinchTransportError
from service.sinch import build_http_client as build_http
from testkit.processes import SIM_KEY, SIM_SECRET


def build_app(args: argparse.Namespace) -> tuple[FastStream, Any]:
    defaults = SinchSettings()
    http = build_http(
        connect_timeout=defaults.connect_timeout_s,
        read_timeout=defaults.read_timeout_s,
        write_timeout=defaults.write_timeout_s,
        pool_timeout=defaults.pool_timeout_s,
        max_connections=args.max_connections,
    )
    sinch = SinchClient(http, SignedAuth(SIM_KEY, SIM_SECRET), base_url=args.sinch_url)
    broker = KafkaBroker(args.bootstrap)

    @broker.subscriber(  # type: ignore[untyped-decorator]
        args.topic,
        group_id=args.group,
        ack_policy=AckPolicy.ACK,
        auto_offset_reset="earliest",
    )
    async def handle(message: KafkaMessage) -> None:
        raw = message.raw_message
        assert not isinstance(raw, tuple)
        result: dict[str, Any] = {
            "source": {"partition": raw.partition, "offset": raw.offset},
        }
        decoded = decode_command(raw.key, raw.value, max_bytes=MAX_COMMAND_BYTES)
        if isinstance(decoded, Rejection):
            result.update(outcome="rejected", error=decoded.code.value)
        else:
            request = plan(decoded)
            result.update(commandId=decoded.command_id, callId=decoded.about_call())
            try:
                response = await sinch.send(
                    SinchRequest(request.method, request.path, request.body, request.region)
                )
            except SinchTransportError as error:
                result.update(outcome="failed", error=error.error_type)
            else:
                result.update(
                    outcome="succeeded" if response.ok else "failed",
                    httpStatus=response.status_code,
                )
        await broker.publish(
            json.dumps(result, separators=(",", ":")).encode(), args.results, key=raw.key
        )

    return FastStream(broker), http


async def run(args: argparse.Namespace) -> None:
    app, http = build_app(args)
    try:
        await app.run()  # until SIGTERM / SIGINT
    finally:
        await http.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.naive", description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--sinch-url", required=True)
    pool = SinchSettings().max_connections or int(Settings.model_fields["max_in_flight"].default)
    parser.add_argument(
        "--max-connections", type=int, default=pool, help="the service's default pool size"
    )
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
