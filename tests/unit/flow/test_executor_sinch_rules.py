"""The executor against scripted Sinch answers (MockTransport): the rules of
docs/sinch-fidelity.md that span several attempts or the snapshot read."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from service.domain.commands import COMMAND, Command
from service.domain.plan import plan
from service.domain.policy import ALREADY_ENDED
from service.domain.results import ErrorCode, Outcome
from service.flow.executor import Execution, Executor
from service.ops.metrics import Metrics
from service.retry import Backoff, RetryPolicy
from service.sinch import BasicAuth, SinchClient, build_http_client

Answer = Callable[[httpx.Request], httpx.Response]
CALL_NOT_FOUND = {"errorCode": 40400, "message": "Call not found", "reference": "r-1"}
STALE = {"errorCode": 40101, "message": "Invalid timestamp"}
GET_BODY = {"callId": "call-1", "status": "ONGOING", "domain": "pstn"}


def command(type_: str, **fields: Any) -> Command:
    record = {"commandId": "c-1", "callId": "call-1", "type": type_, **fields}
    return COMMAND.validate_json(json.dumps(record))


class Script:
    """Answers PATCHes from a list in order (the last one repeats); GETs with `get`."""

    def __init__(self, patches: list[httpx.Response | Exception], get: httpx.Response) -> None:
        self.patches = patches
        self.get = get
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            return self.get
        answer = self.patches[min(len(self.patches), len(self.requests)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def methods(self) -> list[str]:
        return [r.method for r in self.requests]


async def execute(
    cmd: Command,
    patches: list[httpx.Response | Exception],
    *,
    get: httpx.Response | None = None,
    snapshot: bool = True,
) -> tuple[Execution, Script]:
    script = Script(patches, get or httpx.Response(200, json=GET_BODY))
    async with build_http_client(
        connect_timeout=1,
        read_timeout=1,
        write_timeout=1,
        pool_timeout=1,
        max_connections=2,
        transport=httpx.MockTransport(script),
    ) as http:
        executor = Executor(
            SinchClient(http, BasicAuth("key", "secret"), base_url="http://sinch.test"),
            policy=RetryPolicy(Backoff(0.001, 0.001), max_attempts=4, max_retry_after_s=1),
            meter=Metrics(),
        )

        async def no_wait(_: float) -> None:
            return None

        execution = await executor.run(cmd, plan(cmd), snapshot=snapshot, wait=no_wait)
    return execution, script


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(504),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=["500", "502", "504", "read-timeout", "dropped"],
)
async def test_a_hangup_retried_into_call_not_found_succeeded(
    first: httpx.Response | Exception,
) -> None:
    execution, script = await execute(
        command("hangup"), [first, httpx.Response(404, json=CALL_NOT_FOUND)]
    )
    assert execution.outcome is Outcome.SUCCEEDED
    assert execution.note == ALREADY_ENDED
    assert execution.error is None
    assert (execution.attempts, execution.http_status) == (2, 404)
    assert script.methods == ["PATCH", "PATCH"], "no snapshot read of a call that is gone"


async def test_a_hangup_retried_after_a_not_sent_failure_is_still_call_not_found() -> None:
    # A 503 or 429 means Sinch did not act: the call was gone before this hangup.
    execution, _ = await execute(
        command("hangup"), [httpx.Response(503), httpx.Response(404, json=CALL_NOT_FOUND)]
    )
    assert execution.outcome is Outcome.FAILED
    assert execution.error is not None
    assert execution.error.code is ErrorCode.CALL_NOT_FOUND
    assert execution.note is None


async def test_a_first_call_not_found_fails_the_hangup() -> None:
    execution, _ = await execute(command("hangup"), [httpx.Response(404, json=CALL_NOT_FOUND)])
    assert execution.outcome is Outcome.FAILED
    assert execution.error is not None
    assert execution.error.code is ErrorCode.CALL_NOT_FOUND
    assert execution.error.sinch_error_code == 40400


async def test_a_404_that_is_not_call_not_found_is_an_upstream_error_with_its_message() -> None:
    body = {"errorCode": 40400, "message": "Resource not found"}
    execution, _ = await execute(command("hangup"), [httpx.Response(404, json=body)])
    assert execution.error is not None
    assert execution.error.code is ErrorCode.UPSTREAM_ERROR
    assert execution.error.message.endswith(": Resource not found")


async def test_a_stale_timestamp_is_re_signed_once_at_any_attempt() -> None:
    execution, _ = await execute(
        command("hangup"),
        [httpx.Response(503), httpx.Response(401, json=STALE), httpx.Response(204)],
        snapshot=False,
    )
    assert execution.outcome is Outcome.SUCCEEDED
    assert execution.attempts == 3
    again, _ = await execute(
        command("hangup"),
        [httpx.Response(401, json=STALE), httpx.Response(401, json=STALE)],
        snapshot=False,
    )
    assert again.outcome is Outcome.FAILED
    assert again.error is not None
    assert again.error.code is ErrorCode.UNAUTHORIZED
    assert again.attempts == 2, "one re-sign, not more"


@pytest.mark.parametrize(("status", "code"), [(400, 40004), (401, 40108), (403, 40301)], ids=str)
async def test_credential_codes_are_unauthorized(status: int, code: int) -> None:
    body = {"errorCode": code, "message": "no"}
    execution, _ = await execute(command("say", text="Hi", locale="en-US"), [
        httpx.Response(status, json=body)
    ])  # fmt: skip
    assert execution.error is not None
    assert execution.error.code is ErrorCode.UNAUTHORIZED


async def test_a_404_on_the_snapshot_read_never_fails_the_command() -> None:
    execution, script = await execute(
        command("say", text="Hi", locale="en-US"),
        [httpx.Response(204)],
        get=httpx.Response(404, json=CALL_NOT_FOUND),
    )
    assert execution.outcome is Outcome.SUCCEEDED
    assert execution.error is None
    assert execution.call is None
    assert script.methods == ["PATCH", "GET"]


async def test_get_call_info_404_names_sinchs_documented_limit() -> None:
    execution, _ = await execute(
        command("getCallInfo"), [], get=httpx.Response(404, json=CALL_NOT_FOUND)
    )
    assert execution.error is not None
    assert execution.error.code is ErrorCode.CALL_NOT_FOUND
    assert "in-app client to PSTN or SIP" in execution.error.message
