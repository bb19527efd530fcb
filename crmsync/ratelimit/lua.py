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
-- KEYS: 1 window (list of Redis-clock microsecond stamps, newest first), 2 cool-down,
--       3 adopted limit (hash), 4 daily exhausted until (epoch ms), 5 today's daily counter,
--       6 extra headroom ms (widened after 429s), 7 "alive" (set once state exists)
-- ARGV: 1 configured max, 2 configured interval ms, 3 headroom fraction, 4 minimum headroom ms,
--       5 daily cap (0 = off), 6 daily counter TTL ms, 7 window entries kept,
--       8 cool-down ms when the state was lost (0: the caller never saw this Redis before)
-- Returns {status, value, max, interval ms}: 0 taken; 1 window full, value = ms until a slot
-- frees; 2 cooling down, value = ms left; 3 daily exhausted, value = resume epoch ms;
-- 4 daily cap counted out.
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
local nth = redis.call('LINDEX', KEYS[1], limit - 1)
if nth then
  local free_at = tonumber(nth) + window
  if free_at > now then
    return {1, math.ceil((free_at - now) / 1000), limit, interval}
  end
end
redis.call('LPUSH', KEYS[1], string.format('%.0f', now))
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[7]) - 1)
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
if cap > 0 and redis.call('INCR', KEYS[5]) == 1 then
  redis.call('PEXPIRE', KEYS[5], ARGV[6])
end
return {0, 0, limit, interval}
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
