"""Many instances, one server: the Redis event store, session registry and message bus.

Install the extra (``pip install 'streamcore[redis]'``, redis-py's asyncio
client) and give every instance a :class:`RedisCluster` on the same Redis::

    cluster = RedisCluster("redis://127.0.0.1:6379/0")
    hub = StreamableHttpServer(app, ServerConfig(), cluster=cluster)
    await hub.start("0.0.0.0", 8000)     # connects to Redis first
    ...
    await hub.aclose()                   # flushes, gives up the lease

or ``python -m streamcore serve --redis redis://127.0.0.1:6379/0``. Two such
processes on two ports, behind any load balancer without affinity, are one
server: any instance serves any request of any session, in both eras.

How it works (and why)
======================

The core is sans-IO and synchronous, Redis is not; so the I/O stays in the
adapter and off the hot path:

* **A session has a home**: the instance that answered its ``initialize``.
  Requests that reach the home are served by its core exactly as without
  Redis. The registry (``P:s:<sid>``: home, negotiated version, identity,
  expiring after the idle timeout) is written once, before the
  ``initialize`` response leaves, so that the client's next request can
  reach any instance.
* **Forwarding over the bus**: a request naming a session that is not held
  here is held while one Redis call (a Lua script) says where the session
  lives; then the whole request is published to its home's channel, and the
  home's response (head, every SSE event, end) comes back on ours, in order
  (every bus message names its sending process and a sequence number, and a
  receiver drops one it has seen: a retried write cannot duplicate an event).
  So a POST, GET or DELETE can arrive anywhere; a notification or a
  server-to-client request reaches the GET stream wherever the client holds
  it; an elicitation answer POSTed to another instance reaches the waiting
  handler; cancellation works; DELETE and expiry, done by the home, are seen
  by everyone at once (the record is deleted with the session).
* **Event store** (:class:`RedisEventStore`, ``cluster.store``): write-behind.
  The core appends synchronously to a bounded local window (which serves
  replays at the home) and to a queue that one writer task sends to Redis as
  **one pipeline per loop iteration** (all appends of the iteration in one
  ``EVALSHA``, plus the bus messages, in order). Per stream, Redis keeps a
  *Redis Stream* (chosen over sorted sets: ordered by our ``<seq>-0`` ids, so
  ``XRANGE`` after an id is the replay, atomic, and duplicate ids are refused
  by Redis), trimmed to ``max_stream_events`` and ``ttl``, and
  ``max_events`` over all streams, oldest first; a replay that reaches into
  trimmed events is refused (410), never replayed with a gap. Event ids stay
  ``<stream>.<seq>``, and keys name the session, so ``Last-Event-ID`` only
  ever reaches that stream of that session (SEC-12).
* **Ownership and failure**: each instance holds a lease
  (``P:inst:<name>``, ``lease_ttl``, renewed every third of it). A request
  for a session whose home's lease expired claims the session atomically
  (the same Lua script) and *adopts* it: its streams are loaded from Redis
  and become replayable here (no event lost that was stored, none
  duplicated), and every request its streams still owed an answer to gets
  the JSON-RPC error :data:`HANDLER_LOST` on its stream, so a client
  resuming after the crash gets an error instead of a hang, within the lease
  time. Streams forwarded from a home that dies are ended so that their
  clients resume (and are adopted). 2026-07-28 (per-request) requests need
  no session: any instance serves them, their ``requestState`` is sealed
  with a key shared through Redis (``P:mrtr-key``), and ``publish`` reaches
  the ``subscriptions/listen`` streams of every instance over the bus.
* **Redis trouble**: every call is bounded by ``op_timeout``. The first
  failure logs ONE line and turns the instance to fail-closed: every request
  is answered 503 with ``Retry-After`` (never served half, never mixed with
  another session); a probe PINGs every ``probe_interval`` and, when Redis
  answers, reloads the scripts, re-registers this instance's sessions and
  lease (Redis may have restarted empty), logs one line and serves again.
  Until a home has written its records again, a lookup that finds no record
  in a registry that came back empty is answered 503 too, not 404 (the
  registry's birth time is ``P:epoch``; the window is ``2 x lease_ttl +
  probe_interval + op_timeout``).
  Writes queued meanwhile are kept (``max_pending_writes``, oldest dropped
  past it) and sent then. The bus connection has no socket timeout (redis-py
  #3138: a blocking read longer than ``socket_timeout`` fails); it reads with
  ``get_message(timeout=1)`` and PINGs when idle instead.

Limits: ``max_stream_events`` (10,000), ``max_events`` (100,000 in Redis
and in the local window), ``max_bytes`` (the local window), ``ttl`` (300 s),
``lease_ttl`` (5 s), ``op_timeout`` (1 s), ``max_pending_writes`` (100,000).
Identities (``ServerConfig.authenticate``) travel through the registry as
JSON when they are JSON values, otherwise by their ``repr``: after an
adoption, a request's identity matches the session's when it is equal (JSON)
or has the same ``repr`` (an OAuth ``AccessToken``, a dataclass). Redis
Cluster (sharded) is not supported; one Redis (with replicas/Sentinel for
availability) is.
"""

from __future__ import annotations

from ._redis import *  # noqa: F403 - the public face re-exports exactly the private module's __all__
from ._redis import __all__ as __all__  # noqa: PLC0414
