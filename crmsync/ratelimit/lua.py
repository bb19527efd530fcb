"""The Redis limiter's Lua scripts: each runs atomically, in one round trip, on Redis' clock.

Why not ``limits``' moving window on Redis: its Redis storage expires the window with
``EXPIRE`` (whole seconds only, so neither the headroom nor HubSpot's millisecond interval
can be expressed), stamps entries with each client's own clock (skew between hosts lands
straight in the window), and checks one window per call, so honouring the shared
cool-down, the adopted limit and the daily cap would cost two to four round trips or race.
"""

from __future__ import annotations

# One status per outcome of the acquire script; see its header.
TAKEN, WINDOW_FULL, COOLING_DOWN, EXHAUSTED_UNTIL, DAILY_CAP_REACHED = range(5)

ACQUIRE_LUA = """
-- KEYS: 1 slots (sorted set: member "<taken at, Redis-clock us>:<id>", score = the stamp the
--       window counts from, us: the take, or earlier once answered), 2 cool-down,
--       3 adopted limit (hash), 4 daily exhausted until (epoch ms), 5 today's daily counter,
--       6 extra headroom ms (widened after 429s), 7 "alive" (set once state exists)
-- ARGV: 1 configured max, 2 configured interval ms, 3 headroom fraction, 4 minimum headroom ms,
--       5 daily cap (0 = off), 6 daily counter TTL ms, 7 the new slot's id (unique),
--       8 cool-down ms when the state was lost (0: the caller never saw this Redis before)
-- Returns {status, value, max, interval ms}: 0 taken, value = the slot's member; 1 window
-- full, value = ms until a slot frees; 2 cooling down, value = ms left; 3 daily exhausted,
-- value = resume epoch ms; 4 daily cap counted out.
-- No "alive" key: this Redis lost crmsync's state (restarted empty, flushed) or never had
-- it. A caller that talked to it before knows it is the former: HubSpot's window may still
-- be full of what was sent before the loss, so every worker waits one whole window.
if redis.call('EXISTS', KEYS[7]) == 0 then
  redis.call('SET', KEYS[7], '1')
  local lost = tonumber(ARGV[8])
  if lost > 0 and redis.call('PTTL', KEYS[2]) < lost then
    redis.call('SET', KEYS[2], '1', 'PX', lost)
  end
end
local limit = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local adopted = redis.call('HMGET', KEYS[3], 'max', 'interval_ms')
local amax, aint = tonumber(adopted[1]), tonumber(adopted[2])
if amax and amax >= 1 and aint and aint >= 1 then limit = amax; interval = aint end
local cool = redis.call('PTTL', KEYS[2])
if cool > 0 then return {2, cool, limit, interval} end
local resume = redis.call('GET', KEYS[4])
if resume then return {3, resume, limit, interval} end
local cap = tonumber(ARGV[5])
if cap > 0 and (tonumber(redis.call('GET', KEYS[5])) or 0) >= cap then
  return {4, 0, limit, interval}
end
-- Redis' clock, not the callers': every host stamps the window with the same one.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local extra = tonumber(redis.call('GET', KEYS[6])) or 0
local window = (interval + math.max(interval * tonumber(ARGV[3]), tonumber(ARGV[4])) + extra) * 1000
-- Kept for two windows, so that a headroom widened meanwhile still sees them.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - 2 * window))
local since = '(' .. string.format('%.0f', now - window)
local held = redis.call('ZCOUNT', KEYS[1], since, '+inf')
if held >= limit then
  -- More than max are held just after the max was lowered: wait for the slot whose
  -- freeing brings the count under it.
  local e = redis.call(
    'ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', held - limit, 1)
  return {1, math.max(1, math.ceil((tonumber(e[2]) + window - now) / 1000)), limit, interval}
end
local member = string.format('%.0f', now) .. ':' .. ARGV[7]
redis.call('ZADD', KEYS[1], string.format('%.0f', now), member)
if redis.call('PTTL', KEYS[1]) < 2 * window / 1000 then
  redis.call('PEXPIRE', KEYS[1], math.ceil(2 * window / 1000))
end
if cap > 0 and redis.call('INCR', KEYS[5]) == 1 then
  redis.call('PEXPIRE', KEYS[5], ARGV[6])
end
return {0, member, limit, interval}
"""

# A slot's request was answered: stamp it ARGV[2] ms (the margin) before now, on Redis' clock,
# if that is earlier than its stamp, so that it frees one interval (plus any widening) after
# the answer. KEYS: 1 slots. ARGV: 1 the slot's member, 2 the margin in ms.
ANSWERED_LUA = """
local stamp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not stamp then return 0 end
local t = redis.call('TIME')
local early = tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[2]) * 1000
if early < tonumber(stamp) then
  redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', early), ARGV[1])
  return 1
end
return 0
"""


# Set KEYS[1] to ARGV[1] for ARGV[2] ms, unless it already lives longer: a short cool-down
# never cuts a longer one short, whichever worker sets it.
EXTEND_LUA = """
local ms = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
  return 1
end
return 0
"""

# Add ARGV[1] ms to KEYS[1], at most ARGV[2], kept for ARGV[3] ms.
WIDEN_LUA = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
if v > tonumber(ARGV[2]) then
  v = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], v)
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return v
"""
