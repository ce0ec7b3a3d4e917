"""The Lua scripts of the Redis bucket store (:mod:`recall.lsh.redis_buckets`).

Every script that writes or reads a store first runs the guard: the store's metadata must hold the
caller's hash-function fingerprint and be complete (or, for a build's own writes, carry its build
token). Scripts run atomically on the server, so a check and the change it guards cannot be
separated by another client's write.
"""

from __future__ import annotations

__all__ = [
    "GUARD_LUA",
    "WRITE_LUA",
    "GATHER_LUA",
    "GATHER_RECORDS_LUA",
    "SET_RECORDS_LUA",
    "CREATE_LUA",
    "FINISH_LUA",
]

# Guard shared by the write and query scripts: the store's metadata (KEYS[3] / KEYS[2]) must hold
# the caller's hasher fingerprint and be complete — or, for a build's own writes, carry its token.
GUARD_LUA = """
local function guard(metakey, fp, token)
  if redis.call('EXISTS', metakey) == 0 then return 'missing' end
  if redis.call('TYPE', metakey)['ok'] ~= 'hash' then return 'foreign' end
  local m = redis.call('HMGET', metakey, 'fingerprint', 'complete', 'building')
  if m[1] ~= fp then return 'hasher:' .. tostring(m[1]) end
  if token ~= '' then
    if m[3] ~= token then return 'superseded' end
  elseif m[2] ~= '1' then
    return 'incomplete'
  end
  return false
end
"""

# Remove the record of an item (its id's 8 bytes ``idb`` at a multiple of the record size R) from
# a bucket's record string; the key vanishes with its last record.
REC_REMOVE_LUA = """
local function rec_remove(key, idb, R)
  local s = redis.call('GET', key)
  if not s then return end
  local p = 1
  while true do
    local f = string.find(s, idb, p, true)
    if not f then return end
    if (f - 1) % R == 0 then
      if #s == R then
        redis.call('DEL', key)
      else
        redis.call('SET', key, string.sub(s, 1, f - 1) .. string.sub(s, f + R))
      end
      return
    end
    p = f + 1
  end
end
"""

# Writes of one chunk: check the guard and every id first, then move/insert/remove. KEYS: item
# bucket lists, vectors, meta. ARGV: mode, prefix, L, vector storage ("0" local, "1" redis,
# "2:<R>" redis plus records of R bytes per bucket), hasher fingerprint, build token ("" outside a
# build), then per item (id, keys hex, vector bytes) for add/update, (id) for delete; with
# records (id, keys hex, vector bytes, record) and (id, id as 8 bytes). Records (id int64 LE +
# vector) are appended to ``P:r:<t>:<key>`` beside the bucket set, removed with the member, and
# rewritten on update even when the bucket stays. Returns {1, n} applied, {0, ids} refused ids,
# {-1, reason} refused guard.
WRITE_LUA = (
    GUARD_LUA
    + REC_REMOVE_LUA
    + """
local mode = ARGV[1]
local prefix = ARGV[2]
local L = tonumber(ARGV[3])
local storevec = ARGV[4] ~= '0'
local recs = string.sub(ARGV[4], 1, 1) == '2'
local R = 0
if recs then R = tonumber(string.sub(ARGV[4], 3)) end
local keysh = KEYS[1]
local vech = KEYS[2]
local why = guard(KEYS[3], ARGV[5], ARGV[6])
if why then return {-1, why} end
local step = 3
if mode == 'delete' then step = 1 end
if recs then
  step = 4
  if mode == 'delete' then step = 2 end
end
local bad = {}
for i = 7, #ARGV, step do
  local e = redis.call('HEXISTS', keysh, ARGV[i])
  if (mode == 'add' and e == 1) or (mode ~= 'add' and e == 0) then
    bad[#bad + 1] = ARGV[i]
  end
end
if #bad > 0 then
  return {0, bad}
end
local n = 0
for i = 7, #ARGV, step do
  local id = ARGV[i]
  local old = false
  if mode ~= 'add' then old = redis.call('HGET', keysh, id) end
  local new = false
  if mode ~= 'delete' then new = ARGV[i + 1] end
  for t = 0, L - 1 do
    local o = false
    local w = false
    if old then o = string.sub(old, 16 * t + 1, 16 * t + 16) end
    if new then w = string.sub(new, 16 * t + 1, 16 * t + 16) end
    if o ~= w then
      if o then redis.call('SREM', prefix .. 'b:' .. t .. ':' .. o, id) end
      if w then redis.call('SADD', prefix .. 'b:' .. t .. ':' .. w, id) end
    end
    if recs then
      if o then
        local idb = ARGV[i + 3]
        if mode == 'delete' then idb = ARGV[i + 1] end
        rec_remove(prefix .. 'r:' .. t .. ':' .. o, string.sub(idb, 1, 8), R)
      end
      if w then redis.call('APPEND', prefix .. 'r:' .. t .. ':' .. w, ARGV[i + 3]) end
    end
  end
  if mode == 'delete' then
    redis.call('HDEL', keysh, id)
    if storevec then redis.call('HDEL', vech, id) end
  else
    redis.call('HSET', keysh, id, new)
    if storevec then redis.call('HSET', vech, id, ARGV[i + 2]) end
  end
  n = n + 1
end
return {1, n}
"""
)

# The buckets of one query, in one atomic snapshot. KEYS: item bucket lists (its length is the
# store's size), vec hash, meta, then the query's L bucket keys (table order). ARGV: store_vec,
# hasher fingerprint. Returns five values (a few RESP values per query instead of several per
# candidate): the members of the L buckets (ids joined by ",", table after table), the L bucket
# sizes (joined by ","), the distinct members that have a vector (ids joined by ",") and their
# vectors concatenated (both empty without stored vectors), and the store's size — or
# {"!", reason} when the guard refuses (other hash functions stored, store incomplete). The
# distinct members are collected from the SMEMBERS replies already in Lua (no SUNION, which would
# convert every member once more). No voting here: the index's kernel votes.
GATHER_LUA = (
    GUARD_LUA
    + """
local storevec = ARGV[1] == '1'
local why = guard(KEYS[3], ARGV[2], '')
if why then return {'!', why} end
local parts = {}
local sizes = {}
local ids = {}
local seen = {}
for i = 4, #KEYS do
  local m = redis.call('SMEMBERS', KEYS[i])
  sizes[#sizes + 1] = #m
  if #m > 0 then
    parts[#parts + 1] = table.concat(m, ',')
    if storevec then
      for j = 1, #m do
        local v = m[j]
        if not seen[v] then
          seen[v] = true
          ids[#ids + 1] = v
        end
      end
    end
  end
end
local n = redis.call('HLEN', KEYS[1])
local members = table.concat(parts, ',')
local counts = table.concat(sizes, ',')
if #ids == 0 then
  return {members, counts, '', '', n}
end
local kept = {}
local vecs = {}
for s = 1, #ids, 4096 do
  local e = math.min(s + 4095, #ids)
  local part = redis.call('HMGET', KEYS[2], unpack(ids, s, e))
  for j = 1, #part do
    if part[j] then
      kept[#kept + 1] = ids[s + j - 1]
      vecs[#vecs + 1] = part[j]
    end
  end
end
return {members, counts, table.concat(kept, ','), table.concat(vecs), n}
"""
)

# The records of one query's buckets, in one atomic snapshot (``vectors="buckets"``): one read per
# table brings the bucket's ids and their vectors. KEYS: item bucket lists (its length is the
# store's size), meta, then the query's L record keys (table order). ARGV: hasher fingerprint.
# Returns {n items, record string of table 0, ..., of table L-1} ('' for an empty bucket) or
# {"!", reason} when the guard refuses. No conversion per member: each reply is one string.
GATHER_RECORDS_LUA = (
    GUARD_LUA
    + """
local why = guard(KEYS[2], ARGV[1], '')
if why then return {'!', why} end
local out = {redis.call('HLEN', KEYS[1])}
for i = 3, #KEYS do
  out[#out + 1] = redis.call('GET', KEYS[i]) or ''
end
return out
"""
)

# Write whole bucket record strings (a build writes them once per bucket, after its items: exact
# length, no per-item appends). KEYS: meta, then record keys. ARGV: fingerprint, build token, then
# one record string per key. Returns {1, n} or {-1, reason}.
SET_RECORDS_LUA = (
    GUARD_LUA
    + """
local why = guard(KEYS[1], ARGV[1], ARGV[2])
if why then return {-1, why} end
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1])
end
return {1, #KEYS - 1}
"""
)

# Create a store's metadata and hash functions unless one exists (atomic: of two racing builds one
# win). KEYS: meta, hasher. ARGV: n meta fields, then meta field/value pairs, then hasher
# field/value pairs. Returns {1} created, or {0, stored fingerprint}.
CREATE_LUA = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  if redis.call('TYPE', KEYS[1])['ok'] ~= 'hash' then return {0, 'foreign'} end
  return {0, tostring(redis.call('HGET', KEYS[1], 'fingerprint'))}
end
local nm = tonumber(ARGV[1])
for i = 2, 1 + 2 * nm, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 2 + 2 * nm, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return {1}
"""

# Mark a build complete if it is still this build (token) with these hash functions. KEYS: meta,
# item bucket lists. ARGV: fingerprint, token. Returns {1, n items} or {-1, reason}.
FINISH_LUA = (
    GUARD_LUA
    + """
local why = guard(KEYS[1], ARGV[1], ARGV[2])
if why then return {-1, why} end
redis.call('HSET', KEYS[1], 'complete', '1')
redis.call('HDEL', KEYS[1], 'building')
return {1, redis.call('HLEN', KEYS[2])}
"""
)
