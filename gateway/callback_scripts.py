"""The callback desk's Lua scripts (``gateway.callbacks`` runs them).

Each script is one change of the desk's records that must not interleave
with another node's: a request kept against its limits, a row of the
callback's state machine, offers, a claim, a trunk dial's worker. Only
the texts and their wrapper live here; no script runs on import.
"""

from __future__ import annotations

from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from gateway.routing import SETTLE_AGENT, TAKES

# KEYS: number counter, day counter, address counter, stream, open index,
# waiting index, the new callback's hash, the request's merge mark.
# ARGV: per-number, per-day, per-address limits, counter TTL, address TTL,
# stream length, digest, new id, token, now, due_at, then field pairs.
#
# The client retries a command whose connection broke, and the first try
# may have run (Redis died after writing it, before answering): a request
# whose callback exists, or whose merge mark does, is answered as it was
# the first time and counts nothing again.
KEEP: Final = """
local n_key, day_key, addr_key, stream, open, waiting, new_key, mark =
      unpack(KEYS)
local per_number, per_day, per_addr = tonumber(ARGV[1]), tonumber(ARGV[2]),
      tonumber(ARGV[3])
local ttl, addr_ttl, maxlen = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local digest, id, token, now, due = ARGV[7], ARGV[8], ARGV[9], ARGV[10], ARGV[11]
local prefix = string.sub(new_key, 1, #new_key - #id - #'callback:')
if redis.call('EXISTS', new_key) == 1 then return {'kept', id, token} end
local merged_into = redis.call('GET', mark)
if merged_into then
  local into_key = prefix .. 'callback:' .. merged_into
  return {'merged', merged_into, redis.call('HGET', into_key, 'token') or ''}
end
if tonumber(redis.call('GET', n_key) or '0') >= per_number then
  return {'number-limit'}
end
if tonumber(redis.call('GET', day_key) or '0') >= per_day then
  return {'day-limit'}
end
if addr_key ~= n_key and
   tonumber(redis.call('GET', addr_key) or '0') >= per_addr then
  return {'address-limit'}
end
local counters = {n_key, day_key}
if addr_key ~= n_key then table.insert(counters, addr_key) end
for _, key in ipairs(counters) do
  redis.call('INCR', key)
  if key == addr_key then
    redis.call('EXPIRE', key, addr_ttl)
  else
    redis.call('EXPIRE', key, ttl)
  end
end
local fields = {}
for i = 12, #ARGV, 2 do fields[ARGV[i]] = ARGV[i + 1] end
local open_id = redis.call('HGET', open, digest)
if open_id then
  local open_key = prefix .. 'callback:' .. open_id
  local state = redis.call('HGET', open_key, 'state')
  if state == 'waiting' or state == 'offered' or state == 'dialling'
     or state == 'connected' or state == 'wrap-up' then
    redis.call('HINCRBY', open_key, 'requests', 1)
    redis.call('HSET', open_key, 'updated_at', now)
    if state == 'waiting' then
      -- The latest request says when the customer wants the call.
      redis.call('HSET', open_key, 'window', fields['window'] or '',
                 'date', fields['date'] or '', 'due_at', due)
      redis.call('ZADD', waiting, due, open_id)
    end
    if (fields['session'] or '') ~= '' then
      redis.call('HSET', open_key, 'session', fields['session'])
    end
    -- Kept as long as an address counter: far longer than any retry.
    redis.call('SET', mark, open_id, 'EX', addr_ttl)
    return {'merged', open_id, redis.call('HGET', open_key, 'token') or ''}
  end
end
local entry = redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*',
                         'callback', id, unpack(ARGV, 12))
redis.call('HSET', new_key, unpack(ARGV, 12))
redis.call('HSET', new_key, 'state', 'waiting', 'attempts', 0, 'requests', 1,
           'token', token, 'entry', entry, 'digest', digest, 'due_at', due,
           'created_at', now, 'updated_at', now, 'agent', '', 'call', '')
redis.call('ZADD', waiting, due, id)
redis.call('HSET', open, digest, id)
return {'kept', id, token}
"""

# A row of the machine. KEYS: the callback, waiting index, open index,
# stream, timers. ARGV: want state, want call ('' for any), next state,
# next state once no attempt is left, attempts when the record names none,
# the final states (space-separated), due ('' keeps it), group, now, id,
# prefix, record TTL once final, field pairs. Answers 0 if the callback
# is not in the wanted state, else the state it reached and the record's
# call_id, visit, channel and menu (for the log and the event log).
MOVE: Final = (
    SETTLE_AGENT
    + """
local cb, waiting, open, stream, timers = unpack(KEYS)
local want, want_call, nxt, spent, most, finals, due, group, now, id, prefix,
      ttl = unpack(ARGV, 1, 12)
local state = redis.call('HGET', cb, 'state')
if state ~= want then return 0 end
if want_call ~= '' and redis.call('HGET', cb, 'call') ~= want_call then
  return 0
end
if state == 'offered' then
  local agent = redis.call('HGET', cb, 'agent') or ''
  local agent_key = prefix .. 'agent:' .. agent
  if redis.call('HGET', agent_key, 'callback') == id then
    redis.call('HSET', agent_key, 'callback', '')
    settle_agent(agent_key, agent, 'cb:' .. id, 'available-keep-idle', now,
                 prefix .. 'agents:available')
  end
end
local attempts = tonumber(redis.call('HGET', cb, 'attempts') or '') or 0
local allowed = tonumber(redis.call('HGET', cb, 'max_attempts') or '') or 0
if allowed == 0 then allowed = tonumber(most) end
if attempts >= allowed then nxt = spent end
local final = string.find(' ' .. finals .. ' ', ' ' .. nxt .. ' ', 1, true)
redis.call('HSET', cb, 'state', nxt, 'updated_at', now)
if #ARGV > 12 then redis.call('HSET', cb, unpack(ARGV, 13)) end
if nxt == 'waiting' then
  if due ~= '' then redis.call('HSET', cb, 'due_at', due) end
  redis.call('HSET', cb, 'agent', '', 'call', '')
  redis.call('ZADD', waiting, redis.call('HGET', cb, 'due_at'), id)
else
  redis.call('ZREM', waiting, id)
end
redis.call('ZREM', timers, 'cboffer:' .. id)
if nxt ~= 'wrap-up' then redis.call('ZREM', timers, 'cbwrap:' .. id) end
if final then
  local entry = redis.call('HGET', cb, 'entry')
  if entry then redis.call('XACK', stream, group, entry) end
  local digest = redis.call('HGET', cb, 'digest') or ''
  if redis.call('HGET', open, digest) == id then
    redis.call('HDEL', open, digest)
  end
  redis.call('HSET', cb, 'ended_at', now)
  redis.call('EXPIRE', cb, tonumber(ttl))
end
local told = redis.call('HMGET', cb, 'call_id', 'visit', 'channel', 'menu')
for i = 1, #told do told[i] = told[i] or '' end
return {nxt, unpack(told)}
"""
)

# Offer due callbacks to available agents, longest idle first.
# KEYS: waiting index, available agents, timers, the live queue.
# ARGV: prefix, now, offer seconds, live first ('1': only if no caller waits).
OFFER: Final = (
    TAKES
    + """
local waiting, avail, timers, queue = unpack(KEYS)
local prefix, now, offer_s, live_first = ARGV[1], tonumber(ARGV[2]),
      tonumber(ARGV[3]), ARGV[4]
if live_first == '1' and redis.call('ZCARD', queue) > 0 then return {} end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', waiting, '-inf', now,
                               'LIMIT', 0, 50)) do
  local agents = redis.call('ZRANGE', avail, 0, -1)
  if #agents == 0 then break end
  local cb = prefix .. 'callback:' .. id
  local state = redis.call('HGET', cb, 'state')
  if state == 'waiting' then
    local topic = redis.call('HGET', cb, 'topic') or ''
    local skipped = redis.call('HGET', cb, 'skipped_by') or ''
    local skip_until = tonumber(redis.call('HGET', cb, 'skip_until') or '0')
    for _, agent in ipairs(agents) do
      local agent_key = prefix .. 'agent:' .. agent
      if (agent ~= skipped or skip_until <= now)
         and redis.call('HGET', agent_key, 'status') == 'available'
         and takes(agent_key, topic) then
        redis.call('ZREM', avail, agent)
        redis.call('HSET', agent_key, 'status', 'ringing', 'callback', id,
                   'call', 'cb:' .. id, 'since', now)
        redis.call('HSET', cb, 'state', 'offered', 'agent', agent,
                   'updated_at', now)
        redis.call('ZADD', timers, now + offer_s, 'cboffer:' .. id)
        table.insert(out, id)
        table.insert(out, agent)
        break
      end
    end
  elseif state == nil or state == false then
    redis.call('ZREM', waiting, id)
  end
end
return out
"""
)

# An offer given back (skip) or lapsed (timeout). KEYS: callback, agent,
# available agents, timers. ARGV: id, agent, now, how the agent ends up,
# hold-off seconds.
SKIP: Final = (
    SETTLE_AGENT
    + """
local cb, agent_key, avail, timers = unpack(KEYS)
local id, agent, now, how, hold = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HGET', cb, 'state') ~= 'offered'
   or redis.call('HGET', cb, 'agent') ~= agent then
  return 0
end
redis.call('HSET', cb, 'state', 'waiting', 'agent', '', 'updated_at', now,
           'skipped_by', agent, 'skip_until', tonumber(now) + tonumber(hold))
redis.call('ZREM', timers, 'cboffer:' .. id)
if redis.call('HGET', agent_key, 'callback') == id then
  redis.call('HSET', agent_key, 'callback', '')
  settle_agent(agent_key, agent, 'cb:' .. id, how, now, avail)
end
return 1
"""
)

# A claim: the callback becomes an attempt, a call that starts dialling.
# KEYS: callback, waiting index, agent, available agents, timers, the new
# call, the dials stream, the live calls. ARGV: id, agent, now, call id,
# ring deadline, maxlen, customer session ('' for the trunk), number, then
# the call's field pairs.
CLAIM: Final = """
local cb, waiting, agent_key, avail, timers, call, dials, live = unpack(KEYS)
local id, agent, now, call_id, deadline, maxlen, customer, number =
      unpack(ARGV, 1, 8)
local state = redis.call('HGET', cb, 'state')
if not state then return {'unknown-callback'} end
-- This very claim, retried after Redis died before answering it.
if state == 'dialling' and redis.call('HGET', cb, 'call') == call_id then
  return {'ok', redis.call('HGET', cb, 'attempts')}
end
local status = redis.call('HGET', agent_key, 'status') or 'offline'
if state == 'offered' then
  if redis.call('HGET', cb, 'agent') ~= agent then return {'callback-taken'} end
  if redis.call('HGET', agent_key, 'callback') ~= id then
    return {'callback-taken'}
  end
elseif state == 'waiting' then
  if tonumber(redis.call('HGET', cb, 'due_at') or '0') > tonumber(now) then
    return {'not-due'}
  end
  if status ~= 'available' then return {'agent-busy'} end
else
  return {'callback-taken'}
end
local attempt = redis.call('HINCRBY', cb, 'attempts', 1)
redis.call('HSET', cb, 'state', 'dialling', 'agent', agent, 'call', call_id,
           'updated_at', now, 'via', customer == '' and 'trunk' or 'tab')
redis.call('ZREM', waiting, id)
redis.call('ZREM', timers, 'cboffer:' .. id)
redis.call('HSET', call, unpack(ARGV, 9))
redis.call('HSET', call, 'state', 'dialling', 'customer', customer,
           'agent', agent, 'callback', id, 'attempt', attempt,
           'queued_at', now, 'updated', now)
redis.call('HSET', agent_key, 'status', 'busy', 'call', call_id,
           'callback', '', 'since', now)
redis.call('SADD', live, call_id)
redis.call('ZREM', avail, agent)
redis.call('ZADD', timers, deadline, 'ring:' .. call_id)
if customer == '' then
  redis.call('XADD', dials, 'MAXLEN', '~', maxlen, '*', 'callback', id,
             'call_id', call_id, 'attempt', attempt, 'number', number)
end
return {'ok', attempt}
"""

# A media worker becomes the customer's end of a trunk dial.
ATTACH: Final = """
if redis.call('HGET', KEYS[1], 'state') ~= 'dialling' then return 0 end
if (redis.call('HGET', KEYS[1], 'customer') or '') ~= '' then return 0 end
redis.call('HSET', KEYS[1], 'customer', ARGV[1])
return 1
"""


class Script:
    """A Lua script that outlives a Redis restart.

    redis-py loads a script again when the server answers NOSCRIPT, once.
    If Redis restarts just after that load, the call that follows is
    retried on the new server, which answers NOSCRIPT again; nothing ran,
    so loading it once more is safe.
    """

    def __init__(self, redis: Redis, source: str) -> None:
        self._script = redis.register_script(source)

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        try:
            return await self._script(keys=keys, args=args)
        except NoScriptError:
            return await self._script(keys=keys, args=args)
