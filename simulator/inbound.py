"""Simulated inbound calls: the simulator rings the application like Sinch does.

`POST /_admin/inbound/ring` creates a call and POSTs a signed ICE to the application's callback
URL; the SVAML answer steers the call (Sinch, "Callbacks"):

    park ──────────────→ parked: waits for a PATCH carrying an ICE action (an unpark)
    connect* ──────────→ connected: the callee answers, ACE is sent, its answer applied
    runMenu ───────────→ in a menu: `POST .../input` sends PIE with the digits
    hangup / no answer → ended: DiCE is sent

`POST .../hangup` is the caller hanging up (DiCE); the admin routes are in
simulator/inbound_admin.py. A PATCH on the Calling API that hangs up,
connects or starts a menu on an inbound call has the same effects (`after_update`). Callbacks
are signed with the simulator's application key and secret, exactly as Sinch signs them.
Shares no code with the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp

from simulator.auth import decode_secret, signature
from simulator.calls import Call
from simulator.conferences import Callout
from simulator.state import Simulator
from simulator.svaml_rules import JsonObject, Svaml

Phase = Literal["ringing", "parked", "menu", "connected", "ended"]
CONNECT_ACTIONS = frozenset(
    {"connectPstn", "connectSip", "connectConf", "connectMxp", "connectStream"}
)
REGIONS = ("use1", "euc1", "sae1", "apse1", "apse2")
JSON = "application/json"


def sinch_time(epoch: float | None = None) -> str:
    """Callback timestamps as Sinch writes them: `2024-01-16T16:46:36Z`."""
    moment = datetime.fromtimestamp(time.time() if epoch is None else epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def call_resource_url(call_id: str, region: str | None) -> str:
    host = f"calling-{region}.api.sinch.com" if region else "calling.api.sinch.com"
    return f"https://{host}/calling/v1/calls/id/{call_id}"


@dataclass(slots=True)
class Delivery:
    event: str
    at: str
    status: int | None
    answer: Any = None
    error: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "event": self.event,
            "at": self.at,
            "status": self.status,
            "answer": self.answer,
            "error": self.error,
        }


@dataclass(slots=True)
class InboundCall:
    call: Call
    callback_url: str
    region: str | None
    phase: Phase = "ringing"
    # A callout's call sends DiCE only when its request asked for it (enableDice).
    dice: bool = True
    connected_to: JsonObject | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    def to_json(self) -> JsonObject:
        return {
            "callId": self.call.call_id,
            "phase": self.phase,
            "region": self.region,
            "callbackUrl": self.callback_url,
            "connectedTo": self.connected_to,
            "status": self.call.status,
            "reason": self.call.reason,
            "callbacks": [d.to_json() for d in self.deliveries],
        }


class Inbound:
    """The inbound calls of one simulator and the client that sends their callbacks."""

    def __init__(self, sim: Simulator, *, answer_timeout_s: float = 5.0) -> None:
        self._sim = sim
        self._calls: dict[str, InboundCall] = {}
        self._timeout = aiohttp.ClientTimeout(total=answer_timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._secret = decode_secret(sim.settings.application_secret.get_secret_value())

    def get(self, call_id: str) -> InboundCall | None:
        return self._calls.get(call_id)

    def all(self) -> list[InboundCall]:
        return list(self._calls.values())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._session is not None:
            await self._session.close()

    # --- the call's story ------------------------------------------------------------

    async def ring(
        self,
        *,
        to: str,
        cli: str,
        callback_url: str,
        region: str | None,
        custom: str,
        call_id: str | None = None,
    ) -> InboundCall:
        call = self._sim.calls.create(
            call_id,
            from_={"type": "number", "endpoint": cli},
            to={"type": "number", "endpoint": to},
            domain="pstn",
            custom=custom,
        )
        call.result = "N/A"
        inbound = InboundCall(call, callback_url, region)
        self._calls[call.call_id] = inbound
        ice = {
            **self._common(inbound, "ice"),
            "callResourceUrl": call_resource_url(call.call_id, region),
            "userRate": {"currencyId": "EUR", "amount": 0.0312},
            "cli": cli,
            "to": {"type": "number", "endpoint": to},
            "domain": "pstn",
            "originationType": "PSTN",
        }
        answer = await self._send(inbound, ice)
        await self._follow(inbound, answer, "ice")
        return inbound

    async def press(self, inbound: InboundCall, digits: str) -> None:
        """Menu input: PIE with the digits, then its answer."""
        pie = {
            **self._common(inbound, "pie"),
            "menuResult": {
                "type": "sequence",
                "value": digits,
                "menuId": "main",
                "inputMethod": "dtmf",
            },
        }
        answer = await self._send(inbound, pie)
        await self._follow(inbound, answer, "pie")

    async def hang_up(self, inbound: InboundCall, reason: str = "CALLERHANGUP") -> None:
        inbound.call.end(reason, time.monotonic())
        await self._disconnected(inbound)

    def placed(self, call: Call, callout: Callout) -> None:
        """A callout's call: the callee answers at once; with a callback URL configured, ACE
        is sent when the callout asked for it (its answer steers the call) and DiCE at its
        end. A custom callout's inline `ace` SVAML is applied without a callback."""
        url = self._sim.settings.callback_url
        if url is None:
            return
        inbound = InboundCall(call, url, None, "connected", dice=callout.enabled("dice"))
        self._calls[call.call_id] = inbound
        inline_ace = callout.details.get("ace") if callout.method == "customCallout" else None
        if isinstance(inline_ace, str) and inline_ace.lstrip().startswith("{"):
            self._spawn(self._follow(inbound, json.loads(inline_ace), "ace"))
        elif callout.enabled("ace"):
            self._spawn(self._answered(inbound))

    def ended(self, call: Call) -> None:
        """The call ended by the Calling API (a kick): DiCE, when the call sends it."""
        inbound = self._calls.get(call.call_id)
        if inbound is not None and inbound.phase != "ended":
            self._spawn(self._disconnected(inbound))

    async def _answered(self, inbound: InboundCall) -> None:
        answer = await self._send(inbound, self._common(inbound, "ace"))
        await self._follow(inbound, answer, "ace")

    def after_update(self, call: Call, svaml: Svaml) -> None:
        """A Calling API PATCH applied to an inbound call: its effect on the story."""
        inbound = self._calls.get(call.call_id)
        if inbound is None or inbound.phase == "ended" or svaml.action is None:
            return
        name = svaml.action["name"]
        if name == "hangup":
            self._spawn(self._disconnected(inbound))
        elif name in CONNECT_ACTIONS or name == "runMenu":
            self._spawn(self._follow(inbound, {"action": svaml.action}, "update"))
        elif name == "park":
            inbound.phase = "parked"

    # --- answers -----------------------------------------------------------------------

    async def _follow(self, inbound: InboundCall, answer: Any, after: str) -> None:
        action = answer.get("action") if isinstance(answer, dict) else None
        name = action.get("name") if isinstance(action, dict) else None
        call = inbound.call
        if name == "park":
            inbound.phase, call.parked = "parked", True
        elif name in CONNECT_ACTIONS:
            inbound.phase, call.parked = "connected", False
            inbound.connected_to = action
            conference = action.get("conferenceId") if isinstance(action, dict) else None
            if name == "connectConf" and isinstance(conference, str):
                cli = call.from_.get("endpoint", "")
                self._sim.conferences.join(conference, call, str(cli))
            call.result = "ANSWERED"
            ace_answer = await self._send(inbound, self._common(inbound, "ace"))
            await self._follow(inbound, ace_answer, "ace")
        elif name == "runMenu":
            inbound.phase, call.parked = "menu", False
        elif name == "continue" and after in ("ace", "pie"):
            if inbound.phase == "menu" and after == "pie":
                inbound.phase = "connected"
        elif name == "hangup":
            call.end("MANAGERHANGUP", time.monotonic())
            await self._disconnected(inbound)
        else:
            # No SVAML where Sinch needs one: "an error message is played, and the call is
            # disconnected".
            call.end("GENERALERROR", time.monotonic())
            await self._disconnected(inbound)

    async def _disconnected(self, inbound: InboundCall) -> None:
        if inbound.phase == "ended":
            return
        inbound.phase = "ended"
        if not inbound.dice:
            return
        call = inbound.call
        duration = call.duration(time.monotonic())
        dice = {
            **self._common(inbound, "dice"),
            "reason": call.reason,
            "result": call.result,
            "duration": duration,
            "debit": {"currencyId": "EUR", "amount": round(0.0312 * duration / 60, 4)},
            "userRate": {"currencyId": "EUR", "amount": 0.0312},
            "to": call.to,
            "from": call.from_.get("endpoint"),
        }
        await self._send(inbound, dice)

    # --- sending -----------------------------------------------------------------------

    def _common(self, inbound: InboundCall, event: str) -> JsonObject:
        return {
            "event": event,
            "callid": inbound.call.call_id,
            "timestamp": sinch_time(),
            "version": 1,
            "custom": inbound.call.custom,
            "applicationKey": self._sim.settings.application_key,
        }

    async def _send(self, inbound: InboundCall, callback: JsonObject) -> Any:
        """POST the signed callback; returns the parsed SVAML answer (None if none)."""
        body = json.dumps(callback, separators=(",", ":")).encode()
        stamp = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        path = urlsplit(inbound.callback_url).path or "/"
        sig = signature(self._secret, "POST", body, JSON, stamp, path)
        headers = {
            "Content-Type": JSON,
            "x-timestamp": stamp,
            "Authorization": f"Application {self._sim.settings.application_key}:{sig}",
        }
        delivery = Delivery(callback["event"], callback["timestamp"], None)
        inbound.deliveries.append(delivery)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(
                inbound.callback_url, data=body, headers=headers
            ) as response:
                delivery.status = response.status
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            delivery.error = type(error).__name__
            return None
        if delivery.status != 200 or not text.strip():
            return None
        try:
            delivery.answer = json.loads(text)
        except ValueError:
            delivery.error = "answer is not JSON"
            return None
        return delivery.answer

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
