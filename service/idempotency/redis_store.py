"""Idempotency store on Redis: shared by every replica of the service.

One hash per commandId (`fingerprint`, `owner`, `lease_until`, and `result` once finished),
expiring with the retention. The claim rule runs as one Lua script, so it is atomic across
replicas; it applies the same rule as `idempotency.decide`. Times come from the caller's
clock: replicas' clocks need to agree to within a fraction of the lease (NTP does).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as redis

from service.idempotency.store import Claim, ClaimKind, new_owner_id
from service.ops.refusals import Refused

URL_SETTING = "CALLCTL_IDEMPOTENCY__REDIS_URL"

# KEYS[1] claim key; ARGV: fingerprint, owner, now, lease_until, retention_ms, expires_at
# `expires_at` is checked here too, so retention follows the caller's clock like every backend;
# the key's TTL only reclaims the memory.
_CLAIM = """
local entry = redis.call('HMGET', KEYS[1], 'fingerprint', 'lease_until', 'result', 'expires_at')
local fingerprint, lease_until, result, expires_at = entry[1], entry[2], entry[3], entry[4]
if fingerprint and expires_at and tonumber(expires_at) <= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  fingerprint = nil
end
if not fingerprint then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'owner', ARGV[2], 'lease_until', ARGV[4],
             'expires_at', ARGV[6])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'new'}
end
if fingerprint ~= ARGV[1] then return {'conflict'} end
if result then return {'duplicate', result} end
if tonumber(lease_until) <= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'lease_until', ARGV[4])
  return {'interrupted'}
end
return {'busy', lease_until}
"""

# KEYS[1] claim key; ARGV: owner, lease_until
_RENEW = """
local mine = redis.call('HGET', KEYS[1], 'owner') == ARGV[1]
if mine and redis.call('HEXISTS', KEYS[1], 'result') == 0 then
  redis.call('HSET', KEYS[1], 'lease_until', ARGV[2])
end
return 0
"""


class RedisStore:
    def __init__(
        self,
        url: str,
        *,
        key_prefix: str,
        lease_s: float,
        retention_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis: redis.Redis = redis.Redis.from_url(url, decode_responses=False)
        self._prefix = key_prefix
        self._lease_s = lease_s
        self._retention_ms = int(retention_s * 1000)
        self._clock = clock
        self.owner = new_owner_id()
        self._claim: Any = self._redis.register_script(_CLAIM)
        self._renew: Any = self._redis.register_script(_RENEW)

    async def open(self) -> None:
        """Fail the start, not the first command, when Redis cannot be reached."""
        try:
            await self._redis.ping()
        except redis.RedisError as error:
            refused = refusal(error)
            if refused is not None:
                raise refused from None
            raise

    def _key(self, command_id: str) -> str:
        return self._prefix + command_id

    async def claim(self, command_id: str, fingerprint: str) -> Claim:
        now = self._clock()
        reply = await self._claim(
            keys=[self._key(command_id)],
            args=[
                fingerprint,
                self.owner,
                now,
                now + self._lease_s,
                self._retention_ms,
                now + self._retention_ms / 1000,
            ],
        )
        kind = ClaimKind(reply[0].decode())
        if kind is ClaimKind.DUPLICATE:
            return Claim(kind, result=bytes(reply[1]))
        if kind is ClaimKind.BUSY:
            return Claim(kind, retry_in_s=min(max(float(reply[1]) - now, 0.05), 1.0))
        return Claim(kind)

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        key = self._key(command_id)
        expires_at = self._clock() + self._retention_ms / 1000
        async with self._redis.pipeline(transaction=True) as pipe:
            fields = {
                "fingerprint": fingerprint,
                "owner": self.owner,
                "result": result,
                "expires_at": expires_at,
            }
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.hdel(key, "lease_until")
            pipe.pexpire(key, self._retention_ms)
            await pipe.execute()

    async def renew(self, command_ids: Iterable[str]) -> None:
        until = repr(self._clock() + self._lease_s)
        async with self._redis.pipeline(transaction=False) as pipe:
            count = 0
            for command_id in command_ids:
                await self._renew(
                    keys=[self._key(command_id)], args=[self.owner, until], client=pipe
                )
                count += 1
            if count:
                await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


def refusal(error: redis.RedisError) -> Refused | None:
    """A Redis that answered and said no, as a `Refused` naming the URL setting (never its
    value, which holds the password)."""
    if isinstance(error, redis.AuthenticationError):
        return Refused(URL_SETTING, "Redis refused the password (or user) in the URL")
    cause = error.__cause__ or error.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return Refused(
            URL_SETTING,
            f"Redis's certificate is not trusted ({cause.verify_message}); name the CA with "
            "?ssl_ca_certs=<file> in the rediss:// URL",
        )
    return None
