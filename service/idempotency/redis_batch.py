"""Group commit for Redis scripts: calls that arrive while a pipeline is out go together in
the next one, one round trip and one connection for all of them.

Without it, a burst (callbacks piling up while the machine was busy elsewhere, a full
in-flight window of commands) is hundreds of single round trips queueing for the pool's
connections, each paying the client's per-call cost; the wait grows faster than the burst
drains (measured in bench/callbacks.py: answers at 200/s fell from a 2 ms median to seconds
after a one-second stall). Batched, the work per burst is one pipeline, as the SQLite store's
single writer does for its transactions.

Scripts run by SHA (EVALSHA); a Redis that does not know one (restarted, SCRIPT FLUSH) gets it
loaded and only the calls that failed for it are sent again. Each call keeps its own outcome:
a script's error goes to its caller alone, a connection error to every caller of the batch.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as redis
from redis.exceptions import NoScriptError

MAX_BATCH = 500


class Script:
    """A Lua script known by its SHA, run through a `ScriptBatcher`."""

    def __init__(self, client: redis.Redis, text: str) -> None:
        self.text = text
        self.sha: str = client.register_script(text).sha


class ScriptBatcher:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._queue: list[tuple[Script, list[Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, script: Script, keys: list[Any], args: list[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((script, [*keys, *args], future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        return await future

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                replies = await self._execute([(s, a) for s, a, _ in batch], len_keys=1)
            except BaseException as error:  # the whole batch: every caller learns
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for (_, _, future), reply in zip(batch, replies, strict=True):
                if future.done():  # its caller gave up (cancelled)
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _execute(self, calls: list[tuple[Script, list[Any]]], len_keys: int) -> list[Any]:
        replies = await self._pipeline(calls, len_keys)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            for text in {calls[i][0].text for i in missing}:
                await self._redis.script_load(text)
            again = await self._pipeline([calls[i] for i in missing], len_keys)
            for index, reply in zip(missing, again, strict=True):
                replies[index] = reply
        return replies

    async def _pipeline(self, calls: list[tuple[Script, list[Any]]], len_keys: int) -> list[Any]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for script, keys_and_args in calls:
                pipe.evalsha(script.sha, len_keys, *keys_and_args)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        return replies
