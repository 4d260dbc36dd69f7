"""Every command type through the real broker: the exact request the simulator received
(method, path, body bytes), its signature accepted, and a succeeded result."""

from __future__ import annotations

import uuid
from typing import Any

from service.settings import Settings
from testkit.kafka import KafkaClient, command
from testkit.processes import SimulatorProcess
from testkit.service import running_service

CREDENTIALS = "AKIAEXAMPLE:secret:eu-central-1"

# (type, fields, method, path suffix after the call id, exact body)
CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("hangup", {}, "PATCH", "", '{"action":{"name":"hangup"}}'),
    (
        "say",
        {"text": "Hello", "locale": "en-US", "leg": "both"},
        "PATCH",
        "/leg/both",
        '{"instructions":[{"name":"say","text":"Hello","locale":"en-US"}],'
        '"action":{"name":"continue"}}',
    ),
    (
        "say",
        {"text": "Goodbye", "locale": "en-GB", "then": "hangup"},
        "PATCH",
        "",
        '{"instructions":[{"name":"say","text":"Goodbye","locale":"en-GB"}],'
        '"action":{"name":"hangup"}}',
    ),
    (
        "playFiles",
        {"ids": ["https://example.com/a.mp3", "#tts[Hi]"], "locale": "en-US", "leg": "callee"},
        "PATCH",
        "/leg/callee",
        '{"instructions":[{"name":"playFiles","ids":["https://example.com/a.mp3","#tts[Hi]"],'
        '"locale":"en-US"}],"action":{"name":"continue"}}',
    ),
    (
        "sendDtmf",
        {"value": "ww1234#"},
        "PATCH",
        "",
        '{"instructions":[{"name":"sendDtmf","value":"ww1234#"}],"action":{"name":"continue"}}',
    ),
    (
        "park",
        {
            "introPrompt": "#tts[Please hold]",
            "holdPrompt": "#tts[Still holding]",
            "locale": "en-US",
            "maxDuration": 180,
        },
        "PATCH",
        "",
        '{"action":{"name":"park","locale":"en-US","introPrompt":"#tts[Please hold]",'
        '"holdPrompt":"#tts[Still holding]","maxDuration":180}}',
    ),
    (
        "unpark",
        {
            "instructions": [{"name": "say", "text": "Connecting", "locale": "en-US"}],
            "action": {"name": "connectConf", "conferenceId": "room-1"},
        },
        "PATCH",
        "",
        '{"instructions":[{"name":"say","text":"Connecting","locale":"en-US"}],'
        '"action":{"name":"connectConf","conferenceId":"room-1"}}',
    ),
    (
        "startRecording",
        {
            "options": {
                "destinationUrl": "s3://bucket/key",
                "credentials": CREDENTIALS,
                "format": "wav",
                "notificationEvents": True,
                "transcriptionOptions": {"enabled": True, "locale": "en-US"},
            }
        },
        "PATCH",
        "",
        '{"instructions":[{"name":"startRecording","options":{"destinationUrl":"s3://bucket/key",'
        f'"credentials":"{CREDENTIALS}","format":"wav","notificationEvents":true,'
        '"transcriptionOptions":{"enabled":true,"locale":"en-US"}}}],'
        '"action":{"name":"continue"}}',
    ),
    (
        "stopRecording",
        {},
        "PATCH",
        "",
        '{"instructions":[{"name":"stopRecording"}],"action":{"name":"continue"}}',
    ),
    (
        "svaml",
        {
            "svaml": {
                "instructions": [{"name": "setCookie", "key": "k", "value": "v"}],
                "action": {"name": "continue"},
            }
        },
        "PATCH",
        "",
        '{"instructions":[{"name":"setCookie","key":"k","value":"v"}],"action":{"name":"continue"}}',
    ),
    (
        "svaml",
        {
            "leg": "caller",
            "svaml": {
                "instructions": [{"name": "say", "text": "Leg", "locale": "sv-SE"}],
                "action": {"name": "hangup"},
            },
        },
        "PATCH",
        "/leg/caller",
        '{"instructions":[{"name":"say","text":"Leg","locale":"sv-SE"}],"action":{"name":"hangup"}}',
    ),
    ("getCallInfo", {}, "GET", "", ""),
]


async def test_every_type_sends_exactly_the_expected_request(
    settings: Settings, simulator: SimulatorProcess, kafka_client: KafkaClient
) -> None:
    sent = []
    for kind, fields, method, suffix, body in CASES:
        call_id = f"call-{uuid.uuid4().hex[:10]}"
        # A call to unpark was parked by its incoming-call answer.
        await simulator.create_call(call_id, parked=kind == "unpark")
        sent.append((command(call_id, kind, snapshot=False, **fields), method, suffix, body))
    async with running_service(settings):
        for cmd, *_ in sent:
            await kafka_client.send(cmd)
        results = await kafka_client.results_for([cmd["commandId"] for cmd, *_ in sent])

    for cmd, method, suffix, body in sent:
        result = results[cmd["commandId"]]
        assert result["outcome"] == "succeeded", (cmd["type"], result["error"])
        [request] = await simulator.requests(cmd["callId"])
        assert request["method"] == method
        assert request["path"] == f"/calling/v1/calls/id/{cmd['callId']}{suffix}"
        assert request["body"] == body, cmd["type"]
        assert request["authScheme"] == "signed"
        assert request["authOk"] is True
        assert 200 <= request["status"] < 300
        echoed = result["request"]
        assert echoed["path"] == request["path"]
        if cmd["type"] == "startRecording":
            assert echoed["body"]["instructions"][0]["options"]["credentials"] == "***"
            assert CREDENTIALS not in str(result)
