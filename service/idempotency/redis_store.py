"""Idempotency store on Redis: shared by every replica of the service.

One hash per commandId (`fingerprint`, `owner`, `lease_until`, and `result` once finished),
expiring with the retention. The claim rule runs as one Lua script, so it is atomic across
replicas; it applies the same rule as `idempotency.decide`. Times come from the caller's
clock: replicas' clocks need to agree to within a fraction of the lease (NTP does).

Every call has a deadline (connect and socket timeouts): a Redis that stops answering raises
`redis.exceptions.TimeoutError` instead of hanging its caller, and the command handler waits
and asks again, so commands wait while the store is unreachable rather than fail. At start the
store refuses a Redis that may evict keys (`EvictingRedisError`); sizing is in
docs/idempotency-redis.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

import redis.asyncio as redis
import structlog
from redis.exceptions import ResponseError

from service.idempotency.redis_batch import Script, ScriptBatcher
from service.idempotency.store import Claim, ClaimKind, new_owner_id
from service.ops.refusals import Refused

URL_SETTING = "CALLCTL_IDEMPOTENCY__REDIS_URL"

log = structlog.get_logger(logger_name="service.idempotency")
SAFE_POLICY = "noeviction"
_MAX_LOST_PER_COMMAND = 8
# Connections per client. Redis runs one command at a time, so a few dozen keep it busy; a
# burst beyond that waits for a free connection (up to the socket timeout) instead of failing:
# redis-py's default pool raises MaxConnectionsError past 100 at once, which a burst of
# callbacks or a full in-flight window of commands reaches on a loaded machine.
MAX_CONNECTIONS = 64
# Liveness keys are `<key_prefix>owner/<owner id>`: "/" is in no commandId, and callback claims
# start with "callback/", so no claim key can be one.
LIVENESS_INFIX = "owner/"


def redis_client(url: str, *, connect_timeout_s: float, socket_timeout_s: float) -> redis.Redis:
    """A client whose pool waits for a free connection rather than failing past its size."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=MAX_CONNECTIONS,
        timeout=socket_timeout_s,  # waiting for a connection counts like waiting for a reply
        decode_responses=False,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=socket_timeout_s,
        # A pooled connection idle for this long is pinged before use, so a dead one
        # (failover, a NAT that forgot it) fails fast instead of at the socket timeout.
        health_check_interval=30,
    )
    return redis.Redis.from_pool(pool)


class EvictingRedisError(Refused):
    """Redis may evict claims under memory pressure; a command could then run twice. Waiting
    does not help: the start stops, naming the Redis setting to change."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{URL_SETTING} (its maxmemory-policy)", reason)


# KEYS[1] claim key; ARGV: fingerprint, owner, now, lease_until, retention_ms, expires_at, nonce,
# lost (",nonce1,nonce2," of this owner's earlier calls whose reply never came, or ""),
# liveness key prefix (the owner's liveness key is this plus its owner id).
# `expires_at` is checked here too, so retention follows the caller's clock like every backend;
# the key's TTL only reclaims the memory. Each claim that takes the key records its call's nonce:
# when a reply is lost (a socket timeout, a reset), the caller never went ahead, so the next call
# that names the lost nonce takes the claim back instead of waiting out a lease it keeps renewing.
# A claim marked `live` belongs to an owner that keeps a liveness key: once that key has expired
# (the owner was killed, or has not reached Redis for the liveness time), the claim is taken over
# as interrupted at once instead of after its lease. The liveness key is read by a name built
# here, not passed in KEYS: a single Redis (not Redis Cluster), as the store already assumes.
_CLAIM = """
local entry = redis.call('HMGET', KEYS[1], 'fingerprint', 'lease_until', 'result', 'expires_at',
                         'nonce', 'owner', 'live')
local fingerprint, lease_until, result, expires_at, nonce, owner, live = entry[1], entry[2],
  entry[3], entry[4], entry[5], entry[6], entry[7]
if fingerprint and expires_at and tonumber(expires_at) <= tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  fingerprint = nil
end
if not fingerprint then
  redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'owner', ARGV[2], 'lease_until', ARGV[4],
             'expires_at', ARGV[6], 'nonce', ARGV[7], 'live', '1')
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  return {'new'}
end
if fingerprint ~= ARGV[1] then return {'conflict'} end
if result then return {'duplicate', result} end
if nonce and ARGV[8] ~= '' and string.find(ARGV[8], ',' .. nonce .. ',', 1, true) then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'lease_until', ARGV[4], 'nonce', ARGV[7],
             'live', '1')
  return {'new'}
end
local gone = live and owner and redis.call('EXISTS', ARGV[9] .. owner) == 0
if gone or tonumber(lease_until) <= tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'lease_until', ARGV[4], 'nonce', ARGV[7],
             'live', '1')
  if gone then return {'interrupted', 'owner_gone'} end
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

# KEYS[1] claim key; ARGV: fingerprint, owner, result, expires_at, retention_ms. One script, not
# a MULTI of four commands: a fifth of the client's work per command.
_COMPLETE = """
redis.call('HSET', KEYS[1], 'fingerprint', ARGV[1], 'owner', ARGV[2], 'result', ARGV[3],
           'expires_at', ARGV[4])
redis.call('HDEL', KEYS[1], 'lease_until')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 0
"""

_RELEASE = """
local mine = redis.call('HGET', KEYS[1], 'owner') == ARGV[1]
if mine and redis.call('HEXISTS', KEYS[1], 'result') == 0 then
  redis.call('DEL', KEYS[1])
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
        connect_timeout_s: float = 2.0,
        socket_timeout_s: float = 5.0,
        liveness_s: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis_client(
            url, connect_timeout_s=connect_timeout_s, socket_timeout_s=socket_timeout_s
        )
        self._prefix = key_prefix
        self._lease_s = lease_s
        self._retention_ms = int(retention_s * 1000)
        self._clock = clock
        self.owner = new_owner_id()
        # This process's liveness key: set at open, renewed several times per `liveness_s`,
        # deleted at close. Claims of an owner whose key is gone are taken over at once.
        self._liveness_prefix = key_prefix + LIVENESS_INFIX
        self._liveness_key = self._liveness_prefix + self.owner
        self._liveness_ms = int(liveness_s * 1000)
        self._keeper: asyncio.Task[None] | None = None
        self._lost_claims: dict[str, list[str]] = {}
        self._renew: Any = self._redis.register_script(_RENEW)
        self._release: Any = self._redis.register_script(_RELEASE)
        # Claims and completions, the per-command pair, are group-committed (redis_batch).
        self._batch = ScriptBatcher(self._redis)
        self._claim = Script(self._redis, _CLAIM)
        self._complete = Script(self._redis, _COMPLETE)

    async def open(self) -> None:
        """Fail the start, not the first command, when Redis cannot be reached or may evict."""
        try:
            await self._redis.ping()
        except redis.RedisError as error:
            refused = refusal(error)
            if refused is not None:
                raise refused from None
            raise
        await self._check_eviction_policy()
        await self._redis.set(self._liveness_key, b"1", px=self._liveness_ms)
        self._keeper = asyncio.create_task(self._keep_alive(), name="store-liveness")

    async def _keep_alive(self) -> None:
        """Renew the liveness key five times per `liveness_s`: one missed renewal (a slow
        Redis, a busy loop) must not make this live process look gone."""
        while True:
            await asyncio.sleep(self._liveness_ms / 5000)
            try:
                await self._redis.set(self._liveness_key, b"1", px=self._liveness_ms)
            except Exception as error:  # Redis down: the claims wait for it, and so do we
                log.warning("store_liveness_not_renewed", error=type(error).__name__)

    async def _check_eviction_policy(self) -> None:
        """Every policy but `noeviction` may drop keys when memory runs out, `volatile-*` ones
        included: every claim has a TTL (the retention), so all of them are candidates."""
        try:
            reply = await self._redis.config_get("maxmemory-policy")
        except ResponseError as error:  # managed Redis often forbids or renames CONFIG
            log.warning(
                "redis_eviction_policy_unchecked",
                reason=str(error)[:200],
                required=SAFE_POLICY,
                consequence="if this Redis evicts keys, a redelivered command may run twice",
            )
            return
        found: dict[str, str] = {
            (k.decode() if isinstance(k, bytes) else str(k)): (
                v.decode() if isinstance(v, bytes) else str(v)
            )
            for k, v in dict(reply).items()
        }
        policy = found.get("maxmemory-policy", "unknown")
        if policy != SAFE_POLICY:
            raise EvictingRedisError(
                f"Redis maxmemory-policy is {policy!r}; the idempotency store needs "
                f"{SAFE_POLICY!r}. Under memory pressure {policy} evicts keys, claims included "
                "(each has a TTL, so volatile-* policies evict them too), and a command whose "
                "claim was evicted runs again when it is redelivered. Set maxmemory-policy "
                "noeviction and size maxmemory for the retention (docs/idempotency-redis.md)."
            )

    async def release(self, command_id: str) -> None:
        await self._release(keys=[self._key(command_id)], args=[self.owner])

    async def healthy(self) -> bool:
        """Whether Redis answers a PING within the socket timeout: for readiness."""
        try:
            return bool(await self._redis.ping())
        except Exception:  # any failure is "not healthy"; the reason is logged by the callers
            return False

    def _key(self, command_id: str) -> str:
        return self._prefix + command_id

    async def claim(self, command_id: str, fingerprint: str) -> Claim:
        now = self._clock()
        nonce = uuid.uuid4().hex
        lost = self._lost_claims.get(command_id, [])
        try:
            reply = await self._batch.run(
                self._claim,
                [self._key(command_id)],
                [
                    fingerprint,
                    self.owner,
                    now,
                    now + self._lease_s,
                    self._retention_ms,
                    now + self._retention_ms / 1000,
                    nonce,
                    f",{','.join(lost)}," if lost else "",
                    self._liveness_prefix,
                ],
            )
        except BaseException:
            # The script may have run: remember this call's nonce (a few, per command).
            self._lost_claims[command_id] = [*lost[-(_MAX_LOST_PER_COMMAND - 1) :], nonce]
            raise
        self._lost_claims.pop(command_id, None)
        kind = ClaimKind(reply[0].decode())
        if kind is ClaimKind.INTERRUPTED and len(reply) > 1:
            log.info("claim_taken_over", reason="owner_gone")
        if kind is ClaimKind.DUPLICATE:
            return Claim(kind, result=bytes(reply[1]))
        if kind is ClaimKind.BUSY:
            return Claim(kind, retry_in_s=min(max(float(reply[1]) - now, 0.05), 1.0))
        return Claim(kind)

    async def complete(self, command_id: str, fingerprint: str, result: bytes) -> None:
        expires_at = self._clock() + self._retention_ms / 1000
        await self._batch.run(
            self._complete,
            [self._key(command_id)],
            [fingerprint, self.owner, result, expires_at, self._retention_ms],
        )

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
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
            self._keeper = None
            # Stopped: nothing of this process runs any more, so its claims need no waiting.
            with contextlib.suppress(redis.RedisError, OSError):
                await self._redis.delete(self._liveness_key)
        await self._batch.close()
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
