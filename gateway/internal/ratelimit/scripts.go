package ratelimit

import "github.com/redis/go-redis/v9"

// Both scripts keep one key per caller holding its theoretical arrival time (TAT) in
// microseconds of Redis's clock, the only clock, so gateways with skewed clocks agree. Times
// are formatted with %.0f: Lua's default number formatting keeps 14 digits and microsecond
// timestamps have 16. Keys expire once the TAT is past, when they equal a fresh state.

// allowScript decides one request. KEYS[1]: the caller; ARGV[1]: emission interval T (µs);
// ARGV[2]: burst tolerance tau (µs). Returns {1, 0} allowed or {0, retry_after_µs}.
var allowScript = redis.NewScript(`
local T = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tau
if now < allow_at then
  return {0, math.ceil(allow_at - now)}
end
local new_tat = tat + T
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return {1, 0}
`)

// spendScript records n requests a gateway already let through. ARGV[3]: n. Returns how many
// µs the caller is now over the fleet's budget (0: within it). The TAT is capped one interval
// past the burst window, so gateways that together overshoot pause for about one interval
// rather than for as long as their overshoot.
var spendScript = redis.NewScript(`
local T = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = math.min(tat + n * T, now + tau + T)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
local wait = new_tat - tau - now
if wait < 0 then wait = 0 end
return math.ceil(wait)
`)
