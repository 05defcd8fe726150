-- One step of a rate budget shared by every process, for one key (KEYS[1], a hash).
--
-- The state is the Pacer's: a GCRA quota (its theoretical arrival time `tat`) and Mastodon.py's
-- rate-limit state machine (Mastodon.__api_request: remaining, limit, reset, last call,
-- backoff). Every time is in microseconds on this server's clock (TIME), so the processes'
-- clocks never need to agree: clients send only durations.
--
-- ARGV[1]  "send" (before requests) or "429" (after a 429 response)
-- ARGV[2]  how many requests are about to be sent (a process's concurrent callers share one
--          call); 1 for "429"
-- ARGV[3]  the method: "wait", "throw" or "pace"
-- ARGV[4]  the quota's interval between requests (0: no quota)
-- ARGV[5]  the quota's burst: how many requests may go at once
-- ARGV[6]  the pace factor
-- ARGV[7]  how long ago a response arrived whose headers follow, or "" for none
-- ARGV[8]  "1" when that response's status was below 400
-- ARGV[9]  its X-RateLimit-Remaining, or ""
-- ARGV[10] its X-RateLimit-Limit, or ""
-- ARGV[11] its X-RateLimit-Reset as a time after the response (corrected for the server's
--          Date; zero or negative when already past), or ""
-- ARGV[12] how long an idle key is kept, in milliseconds
-- ARGV[13] "send" only: how many more slots the process would take ahead, for requests it
--          expects before its next call (0: none)
--
-- Reply {verdict, micros} per request, in order (n requests: 2n numbers):
--   0  go (or resend) after `micros`
--   1  throw: the quota is used up; the next request is allowed in `micros`
--   2  pace: the server gave no usable reset time
--   3  throw: the server said nothing is left; it resets in `micros` (-1: unknown)
-- then, for "send", how many slots were taken ahead (each one usable at once).

if redis.replicate_commands then
  -- Redis before 5 replicates scripts verbatim and refuses writes after TIME without this.
  redis.replicate_commands()
end

local MAX_SLEEP = 300000000
local INITIAL_BACKOFF = 2000000

local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local step, slots, method = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local tau, burst, pacefactor = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

local f = redis.call('HMGET', KEYS[1],
  'tat', 'limit', 'remaining', 'reset', 'lastcall', 'backoff', 'had_reset', 'observed')
local tat = tonumber(f[1]) or 0
local limit = tonumber(f[2]) or 300
local remaining = tonumber(f[3]) or 300
local reset = tonumber(f[4]) or 0        -- 0: unknown
local lastcall = tonumber(f[5]) or 0     -- 0: no response with a Remaining header yet
local backoff = tonumber(f[6]) or INITIAL_BACKOFF
local had_reset = f[7] == '1'            -- the server has given a usable reset at least once
local observed = tonumber(f[8]) or 0     -- when the latest response folded in arrived

-- A sleep of `d`, at most five minutes, never negative.
local function capped(d)
  if d > MAX_SLEEP then return MAX_SLEEP end
  if d > 0 then return math.floor(d) end
  return 0
end

-- Folds a response's headers into the state, unless a later response already has been
-- (responses from several processes arrive here out of order).
if ARGV[7] ~= '' then
  local at = now - tonumber(ARGV[7])
  if at >= observed then
    observed = at
    local got_reset = false
    if ARGV[9] ~= '' then
      remaining = tonumber(ARGV[9])
      lastcall = at
    end
    if ARGV[10] ~= '' then limit = tonumber(ARGV[10]) end
    if ARGV[11] ~= '' then
      got_reset = true
      local reset_in = tonumber(ARGV[11])
      if reset_in > 0 then
        reset = at + reset_in
        backoff = INITIAL_BACKOFF
        had_reset = true
      else
        reset = 0
      end
    end
    if not got_reset and reset ~= 0 and reset <= at then reset = 0 end
    if ARGV[8] == '1' then backoff = INITIAL_BACKOFF end
  end
end

local usable = reset > now

-- Reserves the quota's next slot at or after `from` and returns its time. Slots are handed out
-- in order of arrival, so processes waiting on one key are served in turn.
local function take_quota(from)
  if tau <= 0 then return from end
  local t = math.max(tat, from)
  tat = t + tau
  return math.max(from, t - (burst - 1) * tau)
end

-- One request about to be sent: its verdict and wait.
local function send()
  if method == 'pace' and lastcall ~= 0 and not usable and not had_reset then
    return 2, 0
  end
  if method == 'throw' and remaining == 0 and usable then
    -- A response (perhaps another process's) said nothing is left until the reset.
    return 3, reset - now
  end
  if method == 'throw' and tau > 0 and math.max(tat, now) - (burst - 1) * tau > now then
    return 1, math.max(tat, now) - (burst - 1) * tau - now
  end
  local start = now
  if method == 'wait' and remaining == 0 and usable then
    start = now + capped(reset - now)
  end
  start = take_quota(start)
  if method == 'pace' and lastcall ~= 0 and reset > start then
    -- Spread what is left of the window evenly, and reserve this request's place in it.
    local to_reset = reset - start
    local delay = to_reset
    if remaining > 0 then
      delay = (to_reset / remaining - (start - lastcall)) / pacefactor
    end
    start = start + capped(delay)
    lastcall = math.max(lastcall, start)
    remaining = math.max(remaining - 1, 0)
  end
  return 0, start - now
end

-- A 429: whatever its headers say, nothing is left until the reset, so the others wait for
-- it (or fail, in throw mode) rather than collect a 429 each.
local function too_many()
  remaining = 0
  if method == 'throw' then
    if usable then return 3, reset - now end
    return 3, -1
  end
  if method == 'pace' and not usable then
    return 2, 0
  end
  if not usable then
    -- Wait without a reset: invent one from the backoff, 2 s doubling to 5 minutes.
    reset = now + backoff
    backoff = math.min(backoff * 2, MAX_SLEEP)
  end
  -- The resend is a request like any other: it needs a quota slot too.
  return 0, take_quota(now + capped(reset - now)) - now
end

-- Several requests take their slots one after the other, exactly as if each had made a call
-- of its own at this instant.
local replies = {}
local all_at_once = true
for i = 1, slots do
  local verdict, micros
  if step == 'send' then verdict, micros = send() else verdict, micros = too_many() end
  replies[2 * i - 1], replies[2 * i] = verdict, math.floor(micros)
  if verdict ~= 0 or micros > 0 then all_at_once = false end
end

-- Slots taken ahead are spent here and now, like any other, so the quota holds whether or
-- not they are used; unused ones are lost. They are only handed out while the budget is far
-- from its end (every request of this call went at once, more than half of the burst is still
-- free after them, and the server's last word left more than half of its limit), so they
-- never stand between another process and a slot it needs soon. Pace mode reserves a delay
-- per request and takes none.
if step == 'send' then
  local ahead = 0
  local wanted = tonumber(ARGV[13])
  local server_quiet = not (remaining == 0 and usable)
    and (lastcall == 0 or remaining * 2 > limit)
  if method ~= 'pace' and wanted > 0 and all_at_once and server_quiet then
    ahead = wanted
    if lastcall ~= 0 then ahead = math.min(ahead, math.floor(remaining / 4)) end
    if tau > 0 then
      -- Slots that could go at once after these, less the half of the burst kept free.
      local free = math.floor((now + burst * tau - math.max(tat, now)) / tau)
      ahead = math.max(0, math.min(ahead, free - math.ceil(burst / 2)))
      tat = math.max(tat, now) + ahead * tau
    end
  end
  replies[2 * slots + 1] = ahead
end

local function int(x) return string.format('%.0f', x) end
redis.call('HSET', KEYS[1], 'tat', int(tat), 'limit', int(limit), 'remaining', int(remaining),
  'reset', int(reset), 'lastcall', int(lastcall), 'backoff', int(backoff),
  'had_reset', had_reset and '1' or '0', 'observed', int(observed))
local horizon = math.max(tat, reset, lastcall, now) - now
redis.call('PEXPIRE', KEYS[1], int(math.floor(horizon / 1000) + tonumber(ARGV[12])))
return replies
