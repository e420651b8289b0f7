"""The Redis side of the money check: key names and the Lua scripts that reserve, settle, and
lease slices of a balance (decisions 0820, 1000).

Amounts are integer micro-units (1e-6). Per prepaid tenant, ``avail`` is the balance less the
open period's usage less everything held; per capped app, ``spent`` is the period's usage plus
everything held. Held amounts are counted apart (``held:t`` per tenant, ``held:a`` per app) so a
recompute from the ledger subtracts what is reserved but not yet in the ledger: single holds (by
id, in ``holds``) and the slices processes lease (by lease id, in ``leases``).
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from billing.ledger import open_period


def period_now() -> str:
    return open_period(timezone.now()).isoformat()


def keys_for(tenant_id: str, app_id: str, period: str | None = None) -> list[str]:
    """The Redis keys every script takes, in their order (``period``: the cap's, default now)."""
    period = period or period_now()
    return [f"billing:avail:{tenant_id}", f"billing:cap:{app_id}:{period}",
            f"billing:held:t:{tenant_id}", f"billing:held:a:{app_id}", f"billing:holds:{app_id}",
            f"billing:leases:{tenant_id}", f"billing:settled:{app_id}", "billing:lease-deadlines",
            f"billing:leases:n:{app_id}"]


# Holds outlive any send (scheduled 7 days ahead, valid 3 days); one never settled (a process
# killed between commit and settle) stops reserving money after this, counted from the app's
# last reservation.
HOLD_TTL = 30 * 86400

# A settle that finds no hold while the app itself has leases out (``billing:leases:n:{app}``
# counts them) writes a tombstone (the send was reserved from a process's slice and is not
# registered yet); the lease's return applies it. Every reserved send with an id is a hold,
# zero-cost ones too, so no other settle writes one (decision 1030).
TOMBSTONE_TTL = 600

# A slice held longer than this was not returned by a live process (they return theirs within
# ``leases.LEASE_SECONDS`` + the returner's period): a refusal does not wait for it.
FRESH_MS = 2000

# Reserve holds, and return / take a process's lease, atomically, in one round trip.
# KEYS: keys_for(). ARGV: 1 prepaid, 2 cap (-1: none), 3 state ttl, 4 base avail or "", 5 base
# spent or "", 6 hold ttl, 7 lease returned ("" none), 8 lease asked for ("" none), 9 its wanted
# size, 10 its smallest useful size, 11 the fraction of what is left one lease may take, 12 the
# lease's life in ms (its deadline for the sweeper), 13 the deadline member's prefix, 14 np, then
# np cost/id pairs reserved from the returned lease, then n, then n cost/id pairs to reserve now
# (an empty id charges at once, without a hold).
# A lease is stored as "amount:granted at (Redis ms)".
# Returns {-1} when avail/spent is missing and no base was given (the caller reads the ledger and
# retries), else {0, avail, granted, leased out by others within FRESH_MS when something was
# refused, verdicts...}
# with a verdict per pair: 0 reserved, 1 insufficient funds, 2 over the cap.
RESERVE = """
local prepaid = ARGV[1] == '1'
local limit = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local np = tonumber(ARGV[14])
local at = 15 + 2 * np
local n = tonumber(ARGV[at])
local old, new = ARGV[7], ARGV[8]
local needed = n > 0 or new ~= ''
local avail, spent
if prepaid then
  avail = redis.call('GET', KEYS[1])
  if avail then avail = tonumber(avail)
  elseif needed then
    if ARGV[4] == '' then return {-1} end
    avail = tonumber(ARGV[4]) - tonumber(redis.call('GET', KEYS[3]) or '0')
    redis.call('SET', KEYS[1], avail, 'EX', ttl)
  end
end
if limit >= 0 then
  spent = redis.call('GET', KEYS[2])
  if spent then spent = tonumber(spent)
  elseif needed then
    if ARGV[5] == '' then return {-1} end
    spent = tonumber(ARGV[5]) + tonumber(redis.call('GET', KEYS[4]) or '0')
    redis.call('SET', KEYS[2], spent, 'EX', ttl)
  end
end
local avail0, spent0 = avail, spent
local charge, dheld, touched = 0, 0, false
if old ~= '' then
  local left = redis.call('HGET', KEYS[6], old)
  if left then left = tonumber(string.match(left, '^(%-?%d+)')) end
  local tombs = np > 0 and redis.call('EXISTS', KEYS[7]) == 1
  local used = 0
  for i = 0, np - 1 do
    local cost, id = tonumber(ARGV[15 + 2 * i]), ARGV[16 + 2 * i]
    used = used + cost
    local tomb = nil
    if tombs and id ~= '' then
      tomb = redis.call('HGET', KEYS[7], id)
      if tomb then redis.call('HDEL', KEYS[7], id) end
    end
    if not left then
      -- reclaimed by the sweeper (decision 1030): its sends settle on their own, as unheld ids
    elseif id == '' or tomb then
      dheld = dheld - cost
      if tomb and tomb ~= '=' then charge = charge + tonumber(tomb) - cost end
    else
      redis.call('HINCRBY', KEYS[5], id, cost)
      touched = true
    end
  end
  if left then
    local free = left - used
    dheld = dheld - free
    charge = charge - free
    redis.call('HDEL', KEYS[6], old)
    redis.call('ZREM', KEYS[8], ARGV[13] .. old)
    if redis.call('DECR', KEYS[9]) <= 0 then redis.call('DEL', KEYS[9]) end
  end
end
if avail then avail = avail - charge end
if spent then spent = spent + charge end
local verdicts, refused = {}, 0
for i = 0, n - 1 do
  local cost, id = tonumber(ARGV[at + 1 + 2 * i]), ARGV[at + 2 + 2 * i]
  local verdict = 0
  if prepaid and avail - cost < 0 then verdict = 1
  elseif limit >= 0 and spent + cost > limit then verdict = 2 end
  if verdict == 0 then
    if prepaid then avail = avail - cost end
    if limit >= 0 then spent = spent + cost end
    if id ~= '' then
      dheld = dheld + cost
      redis.call('HINCRBY', KEYS[5], id, cost)
      touched = true
    end
  else refused = refused + 1 end
  verdicts[#verdicts + 1] = verdict
end
local granted = 0
if new ~= '' and refused == 0 then
  local size = tonumber(ARGV[9])
  local fraction = tonumber(ARGV[11])
  if prepaid then size = math.min(size, math.floor(avail / fraction)) end
  if limit >= 0 then size = math.min(size, math.floor((limit - spent) / fraction)) end
  if size >= tonumber(ARGV[10]) and size > 0 then
    granted = size
    if prepaid then avail = avail - size end
    if limit >= 0 then spent = spent + size end
    dheld = dheld + size
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    redis.call('HSET', KEYS[6], new, string.format('%d:%d', size, now))
    redis.call('ZADD', KEYS[8], now + tonumber(ARGV[12]), ARGV[13] .. new)
    redis.call('INCR', KEYS[9])
    touched = true
  end
end
if avail and avail ~= avail0 then redis.call('SET', KEYS[1], avail, 'KEEPTTL') end
if spent and spent ~= spent0 then redis.call('SET', KEYS[2], spent, 'KEEPTTL') end
if dheld ~= 0 then
  redis.call('INCRBY', KEYS[3], dheld)
  redis.call('INCRBY', KEYS[4], dheld)
  touched = true
end
if touched then
  for k = 3, 6 do redis.call('EXPIRE', KEYS[k], ARGV[6]) end
  if redis.call('EXISTS', KEYS[9]) == 1 then redis.call('EXPIRE', KEYS[9], ARGV[6]) end
end
local others = 0
if refused > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  for _, v in ipairs(redis.call('HVALS', KEYS[6])) do
    local amount, at = string.match(v, '^(%-?%d+):(%d+)$')
    if amount and now - tonumber(at) < FRESH_MS then others = others + tonumber(amount) end
  end
end
local out = {0, avail or 0, granted, others}
for _, v in ipairs(verdicts) do out[#out + 1] = v end
return out
""".replace("FRESH_MS", str(FRESH_MS))

# Settle holds: each id's hold is removed; its real cost ("" = as reserved, 0 = release) replaces
# the estimate in the avail/spent keys (when they exist; otherwise the next recompute reads the
# ledger). An id that holds nothing while the app has leases out is written down as a
# tombstone instead (its send was reserved from a lease and is registered when the lease comes
# back, which applies the tombstone). KEYS: keys_for(); ARGV: n, then id/real pairs, then the
# tombstones' ttl. Returns what was held.
SETTLE = """
local n = tonumber(ARGV[1])
local held, delta = 0, 0
local leased = nil
local tombs = false
for i = 0, n - 1 do
  local id, real = ARGV[2 + 2 * i], ARGV[3 + 2 * i]
  local est = redis.call('HGET', KEYS[5], id)
  if est then
    est = tonumber(est)
    redis.call('HDEL', KEYS[5], id)
    held = held + est
    if real ~= '' then delta = delta + tonumber(real) - est end
  else
    if leased == nil then leased = tonumber(redis.call('GET', KEYS[9]) or '0') > 0 end
    if leased then
      redis.call('HSET', KEYS[7], id, real == '' and '=' or real)
      tombs = true
    elseif real ~= '' then delta = delta + tonumber(real) end
  end
end
if tombs then redis.call('EXPIRE', KEYS[7], ARGV[2 + 2 * n]) end
if held > 0 then
  redis.call('DECRBY', KEYS[3], held)
  redis.call('DECRBY', KEYS[4], held)
end
if delta ~= 0 then
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('DECRBY', KEYS[1], delta) end
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCRBY', KEYS[2], delta) end
end
return held
"""

# Reclaim a lease whose deadline passed (its process died without returning it): its amount
# stops being held and the avail/spent keys are dropped, so the next check recomputes them from
# the ledger (the sends the dead process accepted from it are counted there once they are sent).
# KEYS: keys_for(the lease's tenant, app, period); ARGV: lease id, deadline member, now (ms).
# Returns the amount reclaimed (0: nothing to do, so a second run changes nothing).
RECLAIM = """
local score = redis.call('ZSCORE', KEYS[8], ARGV[2])
if not score or tonumber(score) > tonumber(ARGV[3]) then return 0 end
redis.call('ZREM', KEYS[8], ARGV[2])
local left = redis.call('HGET', KEYS[6], ARGV[1])
if not left then return 0 end
left = tonumber(string.match(left, '^(%-?%d+)'))
redis.call('HDEL', KEYS[6], ARGV[1])
if redis.call('DECR', KEYS[9]) <= 0 then redis.call('DEL', KEYS[9]) end
redis.call('DECRBY', KEYS[3], left)
redis.call('DECRBY', KEYS[4], left)
redis.call('DEL', KEYS[1], KEYS[2])
return tonumber(left)
"""

_scripts: dict[str, Any] = {}


def script(client, name: str, source: str):
    """Registered once per client (EVALSHA; redis-py loads it again after a Redis restart)."""
    registered = _scripts.get(name)
    if registered is None or registered.registered_client is not client:
        registered = _scripts[name] = client.register_script(source)
    return registered
