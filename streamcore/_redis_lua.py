"""The Lua scripts of :mod:`streamcore.redis` (each runs atomically in Redis).

Key layout, under a prefix ``P`` (``RedisCluster(prefix=...)``, default ``streamcore``):

``P:inst:<name>``          an instance's lease (``SET ... PX lease``)
``P:s:<sid>``              a session's record: home, ver, ident (hash, expires)
``P:e:<sid>:<stream>``     a stream's events (Redis Stream, entry id ``<seq>-0``, fields t, d)
``P:k:<sid>``              the stream keys of a session (set)
``P:f:<sid>``              stream -> the first sequence number still kept (hash; below it was purged)
``P:o:<sid>:<stream>``     the JSON-RPC ids of the requests a stream owes answers to (list)
``P:z``                    every stream, scored by its oldest kept event's time (sorted set)
``P:total``                events kept over all streams
``P:mrtr-key``             the shared key that seals 2026-07-28 ``requestState``
"""

from __future__ import annotations

# Trimming one event off the head of a stream keeps P:total, P:f and P:z exact.
_TRIM = """
local function trim_one(p, sid, st)
  local k = p..':e:'..sid..':'..st
  local e = redis.call('XRANGE', k, '-', '+', 'COUNT', 1)
  if #e == 0 then
    redis.call('ZREM', p..':z', sid..' '..st)
    return false
  end
  redis.call('XDEL', k, e[1][1])
  local seq = tonumber(string.match(e[1][1], '^(%d+)'))
  redis.call('HSET', p..':f:'..sid, st, seq + 1)
  local nxt = redis.call('XRANGE', k, '-', '+', 'COUNT', 1)
  if #nxt == 0 then
    -- all trimmed: the stream is forgotten (a resume naming it is refused, 400)
    redis.call('ZREM', p..':z', sid..' '..st)
    redis.call('SREM', p..':k:'..sid, st)
    redis.call('HDEL', p..':f:'..sid, st)
    redis.call('DEL', k, p..':o:'..sid..':'..st)
  else
    redis.call('ZADD', p..':z', 'XX', tonumber(nxt[1][2][2]), sid..' '..st)
  end
  return true
end
local function oldest(p)
  local z = redis.call('ZRANGE', p..':z', 0, 0, 'WITHSCORES')
  if #z == 0 then return nil end
  local sp = string.find(z[1], ' ', 1, true)
  return string.sub(z[1], 1, sp - 1), string.sub(z[1], sp + 1), tonumber(z[2])
end
"""

#: ARGV: prefix, now_ms, ttl_ms, max_stream_events, max_total_events, then
#: (sid, stream, seq, data, t_ms) five at a time. Returns the events kept in total.
APPEND = _TRIM + """
local p = ARGV[1]
local now = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local maxs = tonumber(ARGV[4])
local maxt = tonumber(ARGV[5])
local total = tonumber(redis.call('GET', p..':total') or '0')
for i = 6, #ARGV, 5 do
  local sid, st, seq, data, t = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  local k = p..':e:'..sid..':'..st
  if redis.call('SISMEMBER', p..':k:'..sid, st) == 0 then
    redis.call('SADD', p..':k:'..sid, st)
    redis.call('HSETNX', p..':f:'..sid, st, seq)
  end
  if maxs == 0 or maxt == 0 then
    redis.call('HSET', p..':f:'..sid, st, tonumber(seq) + 1)
  else
    local ok = redis.pcall('XADD', k, seq..'-0', 't', t, 'd', data)
    if type(ok) ~= 'table' or not ok.err then
      total = total + 1
      redis.call('ZADD', p..':z', 'NX', tonumber(t), sid..' '..st)
      local n = redis.call('XLEN', k)
      while n > maxs do
        if trim_one(p, sid, st) then total = total - 1 end
        n = n - 1
      end
    end
  end
end
-- age (oldest first, over every stream) and the total count
for _ = 1, 1000 do
  local sid, st, t = oldest(p)
  if sid == nil then break end
  if total <= maxt and t >= now - ttl then break end
  if trim_one(p, sid, st) then total = total - 1 end
end
if total < 0 then total = 0 end
redis.call('SET', p..':total', total)
return total
"""

#: ARGV: prefix, sid. Forgets the session's record, streams and bookkeeping.
DROP = """
local p, sid = ARGV[1], ARGV[2]
local total = tonumber(redis.call('GET', p..':total') or '0')
for _, st in ipairs(redis.call('SMEMBERS', p..':k:'..sid)) do
  local k = p..':e:'..sid..':'..st
  total = total - redis.call('XLEN', k)
  redis.call('DEL', k, p..':o:'..sid..':'..st)
  redis.call('ZREM', p..':z', sid..' '..st)
end
redis.call('DEL', p..':k:'..sid, p..':f:'..sid, p..':s:'..sid)
if total < 0 then total = 0 end
redis.call('SET', p..':total', total)
return total
"""

#: ARGV: prefix, sid, me, record_ttl_ms, rebuild_ms. Where does the session live?
#: {0} no such session; {1, home} its home holds its lease; {2, old, ver, ident}
#: its home's lease expired and ``me`` is now its home (claimed atomically), or
#: it already was (a claim whose caller timed out before adopting: adopt now);
#: {3} no record, but the registry is younger than rebuild_ms (Redis came back
#: empty and the homes are still writing their records again): ask later.
#: The registry's birth is kept in ``p:epoch`` (Redis's own clock, in ms):
#: 0 when an instance started on it, else written by the first lookup that
#: finds it missing (Redis lost its data while instances were running).
ROUTE = """
local p, sid, me = ARGV[1], ARGV[2], ARGV[3]
local key = p..':s:'..sid
local r = redis.call('HMGET', key, 'home', 'ver', 'ident')
if not r[1] then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local born = tonumber(redis.call('GET', p..':epoch'))
  if not born then
    redis.call('SET', p..':epoch', now)
    born = now
  end
  if now - born < tonumber(ARGV[5]) then return {3} end
  return {0}
end
if r[1] == me then return {2, me, r[2], r[3]} end
if redis.call('EXISTS', p..':inst:'..r[1]) == 1 then return {1, r[1]} end
redis.call('HSET', key, 'home', me)
redis.call('PEXPIRE', key, tonumber(ARGV[4]))
return {2, r[1], r[2], r[3]}
"""
