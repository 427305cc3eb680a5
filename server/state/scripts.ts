// Lua scripts run by EVAL: each check-and-add happens atomically inside Redis. Times come from the
// store's own clock (TIME), so nodes' clocks need not agree.

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Lease quota bytes. KEYS: used, leases, the node's index of the leases it holds (NODE_GONE), and
 * the id of the measure the usage comes from (SET_USED). ARGV: node, limit, want, min, hold,
 * leaseTtlMs, keepMs.
 * `hold` is what this node already holds (reserved + unspent lease + unflushed deltas). Grants
 * `want` bytes, or what is left if that is at least `min`, else nothing. Returns {grant, used,
 * others, measure id ('' if unknown)}; grant -1: the store has no usage for this ledger (measure
 * storage and SET NX).
 *
 * A lease whose node stopped renewing it (crashed) expires. Its node may have written any part of
 * it (a new upload's partial file stays on disk), so: if no other node holds anything, the usage is
 * dropped and measured again from storage (exact, and the unspent part comes back); otherwise the
 * whole lease is counted as used, and the leases hash keeps DEAD_MARK, until the first moment no
 * node holds anything (here or in SETTLE): then the usage is dropped and measured again. Without
 * the mark the unspent part stayed counted for as long as the user kept the ledger busy.
 */
/**
 * A field of a ledger's leases hash (never a node id): the usage may be above the disk (a crashed
 * node's lease counted whole, or a measure taken while an upload wrote in place: SETTLE's ARGV 7),
 * so it is dropped and measured again the first moment no node holds anything.
 */
export const DEAD_MARK = "~dead";

export const LEASE = `${NOW}
local used = redis.call('GET', KEYS[1])
local others, dead = 0, 0
local all = redis.call('HGETALL', KEYS[2])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] and all[i] ~= '${DEAD_MARK}' then
    local b, exp = string.match(all[i + 1], '^(%d+):(%d+)$')
    if tonumber(exp) < now then
      redis.call('HDEL', KEYS[2], all[i])
      dead = dead + tonumber(b)
    else
      others = others + tonumber(b)
    end
  end
end
local hold = tonumber(ARGV[5])
if (dead > 0 or redis.call('HEXISTS', KEYS[2], '${DEAD_MARK}') == 1) and others == 0 and hold == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('HDEL', KEYS[2], '${DEAD_MARK}')
  return {-1, 0, 0}
end
if not used then return {-1, 0, 0} end
used = tonumber(used) + dead
if dead > 0 then
  redis.call('SET', KEYS[1], used)
  redis.call('HSET', KEYS[2], '${DEAD_MARK}', 1)
end
local free = tonumber(ARGV[2]) - math.max(0, used) - others - hold
local grant = 0
if free >= tonumber(ARGV[4]) then grant = math.min(tonumber(ARGV[3]), free) end
hold = hold + grant
if hold > 0 then redis.call('HSET', KEYS[2], ARGV[1], hold .. ':' .. (now + tonumber(ARGV[6]))) else redis.call('HDEL', KEYS[2], ARGV[1]) end
if hold > 0 and KEYS[3] then
  redis.call('SADD', KEYS[3], KEYS[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
redis.call('PEXPIRE', KEYS[1], ARGV[7])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
if not KEYS[4] then return {grant, math.max(0, used), others} end
redis.call('PEXPIRE', KEYS[4], ARGV[7])
return {grant, math.max(0, used), others, redis.call('GET', KEYS[4]) or ''}`;

/**
 * Nodes known dead now (a --workers sibling its primary saw exit), not after their heartbeat runs
 * out: their place in the node table and their quota leases (found through each node's index, which
 * LEASE keeps) are put out of date, so the next CONN_OPEN and LEASE treat them as a silent node's,
 * and they leave the users' --max-user-rate sets (through the index RATE_NODES keeps). The S3 key
 * locks the process still holds (its index, KEY_LOCK's) are given back, each only if still its token.
 * KEYS: nodes. ARGV: the dead nodes' id prefix ("host:pid:"), the key prefix. Returns how many.
 */
export const NODE_GONE = `local gone = 0
for _, n in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.sub(n, 1, #ARGV[1]) == ARGV[1] then
    redis.call('ZADD', KEYS[1], 0, n)
    local index = ARGV[2] .. 'node-ledgers:' .. n
    for _, k in ipairs(redis.call('SMEMBERS', index)) do
      local v = redis.call('HGET', k, n)
      if v then redis.call('HSET', k, n, string.match(v, '^(%d+):') .. ':0') end
    end
    redis.call('DEL', index)
    local rates = ARGV[2] .. 'node-rates:' .. n
    for _, k in ipairs(redis.call('SMEMBERS', rates)) do redis.call('ZREM', k, n) end
    redis.call('DEL', rates)
    gone = gone + 1
  end
end
local locks = ARGV[2] .. 'locks-of:' .. ARGV[1]
local held = redis.call('HGETALL', locks)
for i = 1, #held, 2 do
  if redis.call('GET', held[i]) == held[i + 1] then redis.call('DEL', held[i]) end
end
redis.call('DEL', locks)
return gone`;

/**
 * Apply a settled upload or a deletion, and restate this node's holding. KEYS: used, leases, and the
 * node's index of the leases it holds (NODE_GONE; kept as long as the lease, which the heartbeat's
 * SETTLE renews without a LEASE), the number of the node's last batch applied, and the measure id
 * (SET_USED). ARGV: node, delta, hold, leaseTtlMs, keepMs,
 * the batch's number (0: none, a holding restated), and '1' when the usage may count bytes of an
 * upload in place twice (DEAD_MARK: measured again once nobody holds anything). A batch numbered no
 * higher than the last applied is one resent after its answer was lost: its delta is not applied
 * again. Returns the usage (-1 when the store has none: the next lease measures storage, which
 * already includes the change); given the measure id's key, {usage, measure id ('' if unknown)}.
 *
 * The usage stays the exact sum of the deltas, below 0 too (LEASE and SETTLE answer 0 for it then):
 * nodes' deltas arrive in any order, and a removal's on one node (DELE, an overwrite's commit, a
 * rename over the file) can come before the delta of the upload that wrote the file on another.
 * Cut at 0, the sum kept the cut part once that upload's delta came: SITE QUOTA above the disk for
 * good (395,000 bytes after 10 s of six sessions on two --workers).
 */
export const SETTLE = `${NOW}
local seq = tonumber(ARGV[6] or '0')
local fresh = true
if seq > 0 then
  if seq <= tonumber(redis.call('GET', KEYS[4]) or '0') then fresh = false else redis.call('SET', KEYS[4], seq, 'PX', ARGV[5]) end
end
local used = redis.call('GET', KEYS[1])
local u = -1
if used then
  u = tonumber(used)
  if fresh then
    u = u + tonumber(ARGV[2])
    redis.call('SET', KEYS[1], u, 'PX', ARGV[5])
  end
  if u < 0 then u = 0 end
  if ARGV[7] == '1' then redis.call('HSET', KEYS[2], '${DEAD_MARK}', 1) end
end
local measure = ''
if KEYS[5] then
  measure = redis.call('GET', KEYS[5]) or ''
  if used then redis.call('PEXPIRE', KEYS[5], ARGV[5]) end
end
local hold = tonumber(ARGV[3])
if hold > 0 then redis.call('HSET', KEYS[2], ARGV[1], hold .. ':' .. (now + tonumber(ARGV[4]))) else redis.call('HDEL', KEYS[2], ARGV[1]) end
if hold > 0 and KEYS[3] then
  redis.call('SADD', KEYS[3], KEYS[2])
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
redis.call('PEXPIRE', KEYS[2], ARGV[5])
-- A crashed node's lease counted whole (LEASE): measure again once nobody holds anything.
if hold == 0 and redis.call('HEXISTS', KEYS[2], '${DEAD_MARK}') == 1 then
  local all = redis.call('HGETALL', KEYS[2])
  local live = false
  for i = 1, #all, 2 do
    if all[i] ~= '${DEAD_MARK}' then
      local b, exp = string.match(all[i + 1], '^(%d+):(%d+)$')
      if tonumber(exp) >= now then live = true end
    end
  end
  if not live then
    redis.call('DEL', KEYS[1])
    redis.call('HDEL', KEYS[2], '${DEAD_MARK}')
    u = -1
  end
end
if KEYS[5] then return {u, measure} end
return u`;

/**
 * Take a connection slot if all live nodes together are under both caps. KEYS: nodes (zset of
 * node → expiry). ARGV: node, ip, maxConnections, maxPerIp, nodeTtlMs, prefix. Dead nodes (no
 * heartbeat) and their counts are removed. Returns 0 ok, 1 server full, 2 address full.
 */
export const CONN_OPEN = `${NOW}
local prefix = ARGV[6]
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, n in ipairs(dead) do
  redis.call('DEL', prefix .. 'conns:' .. n)
  redis.call('ZREM', KEYS[1], n)
end
local total, fromIp = 0, 0
for _, n in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('HMGET', prefix .. 'conns:' .. n, 'total', 'ip:' .. ARGV[2])
  total = total + (tonumber(v[1]) or 0)
  fromIp = fromIp + (tonumber(v[2]) or 0)
end
if total >= tonumber(ARGV[3]) then return 1 end
if fromIp >= tonumber(ARGV[4]) then return 2 end
local mine = prefix .. 'conns:' .. ARGV[1]
redis.call('HINCRBY', mine, 'total', 1)
redis.call('HINCRBY', mine, 'ip:' .. ARGV[2], 1)
return 0`;

/**
 * Connections per client address over every live node: the counts CONN_OPEN sums for --max-per-ip,
 * read when every slot is taken, so a node weighs the addresses of its own connections not logged in
 * by what they hold cluster-wide (connection-gate.ts, evictFor). KEYS: nodes. ARGV: the key prefix,
 * then the addresses (at most EVICTION_KEYS_MAX + 1: a flood's refused newcomers each run this, so
 * its cost is nodes × addresses asked, never the cluster's whole count tables). Returns one count
 * per address. Reads only: a node past its heartbeat is left out, as CONN_OPEN leaves it out.
 */
export const CONN_COUNTS = `${NOW}
local fields = {}
local out = {}
for i = 2, #ARGV do
  fields[i - 1] = 'ip:' .. ARGV[i]
  out[i - 1] = 0
end
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  local got = redis.call('HMGET', ARGV[1] .. 'conns:' .. n, unpack(fields))
  for i = 1, #fields do out[i] = out[i] + (tonumber(got[i]) or 0) end
end
return out`;

/** Restate this node's connection counts and keep it alive. KEYS: nodes, mine. ARGV: node, nodeTtlMs, field, count, … */
export const NODE_SYNC = `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
return 0`;

/** This node is alive. KEYS: nodes. ARGV: node, nodeTtlMs. */
export const NODE_ALIVE = `${NOW}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 0`;

/** One failed login. KEYS: counter. ARGV: windowMs. Returns the failures before this one. */
export const FAIL = `local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n - 1`;

/**
 * Nodes serving a user (for the shared --max-user-rate). KEYS: zset, and the node's index of the
 * users' sets it is in (NODE_GONE). ARGV: node, ttlMs, active (1/0). Returns the count.
 */
export const RATE_NODES = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  if KEYS[2] then
    redis.call('SADD', KEYS[2], KEYS[1])
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  end
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  if KEYS[2] then redis.call('SREM', KEYS[2], KEYS[1]) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])`;

/**
 * A connection ended. KEYS: this node's counts. ARGV: "ip:ADDR". Never below 0: a count the store
 * lost (restarted empty, evicted, a node taken for dead) would go negative as its sessions end and
 * hide other nodes' sessions from the caps until the node restates its counts.
 */
export const CONN_CLOSE = `if (tonumber(redis.call('HGET', KEYS[1], 'total')) or 0) > 0 then redis.call('HINCRBY', KEYS[1], 'total', -1) end
if redis.call('HINCRBY', KEYS[1], ARGV[1], -1) <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0`;

/**
 * Usage measured from storage, stored unless another node was first. KEYS: used, and the measure id.
 * ARGV: bytes, keepMs, the measure's id (unique: node and a count). The id tells every node, in
 * LEASE's and SETTLE's answers, that a measure replaced the usage since it last looked: its uploads
 * written in place had bytes on disk that the measure counted (RedisLedger.foreignMeasure).
 */
export const SET_USED = `local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if ok and KEYS[2] then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2]) end
return ok`;

/**
 * A failed login toward a ban of one address (its ban key: the IPv4 address, or the IPv6 /64), for
 * every node at once. KEYS: failures (zset of failure → time), ban ("until:bans"), index (zset of
 * banned key → until), seq (bans taken so far). ARGV: banAfter, windowMs, banMs, banMaxMs, a unique
 * member for this failure, channel, key. Already banned: {2, ms left, bans}. Failures within the
 * window below banAfter: {0, 0, bans, failures}. Else a ban of banMs × 2^bans (at most banMaxMs),
 * announced on the channel ("key ms repeat seq"): {1, ms, repeat, failures, seq}. The ban key outlives the
 * ban by banMaxMs, so a repeat within that time doubles; after it the doubling starts over.
 */
export const BAN_FAIL = `${NOW}
local till, bans = 0, 0
local v = redis.call('GET', KEYS[2])
if v then
  local t, b = string.match(v, '^(%d+):(%d+)$')
  till, bans = tonumber(t), tonumber(b)
end
if till > now then return {2, till - now, bans, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n < tonumber(ARGV[1]) then return {0, 0, bans, n} end
redis.call('DEL', KEYS[1])
local ms = math.floor(math.min(tonumber(ARGV[3]) * 2 ^ math.min(bans, 40), tonumber(ARGV[4])))
redis.call('SET', KEYS[2], (now + ms) .. ':' .. (bans + 1), 'PX', ms + tonumber(ARGV[4]))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZADD', KEYS[3], now + ms, ARGV[7])
local seq = redis.call('INCR', KEYS[4])
redis.call('PUBLISH', ARGV[6], ARGV[7] .. ' ' .. ms .. ' ' .. (bans + 1) .. ' ' .. seq)
return {1, ms, bans + 1, n, seq}`;

/**
 * Every ban in force (a node starting, back after an outage, or one that missed an announcement).
 * KEYS: index, seq. ARGV: prefix. Returns {seq, key, ms left, repeat, key, …}.
 */
export const BANS_LOAD = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = {tonumber(redis.call('GET', KEYS[2]) or 0)}
for _, k in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('GET', ARGV[1] .. 'ban:' .. k)
  if v then
    local t, b = string.match(v, '^(%d+):(%d+)$')
    if tonumber(t) > now then
      out[#out + 1] = k
      out[#out + 1] = tonumber(t) - now
      out[#out + 1] = tonumber(b)
    end
  end
end
return out`;

/**
 * Bans in force that a store restarted empty (or evicting) lost, restated by a node that kept them.
 * KEYS: index (zset), seq. ARGV: prefix, then key, ms left, repeat for each ban. A ban the store has
 * in force is left alone. The record of an ended ban (kept banMaxMs past its end for the doubling)
 * is not one: it is replaced, keeping the higher repeat and the longer life; with SET NX it kept out
 * the ban a node took on its own count in an outage, for every address banned before. The count
 * moves on, so nodes started since load them. Returns the count.
 */
export const BANS_RESTATE = `${NOW}
for i = 2, #ARGV, 3 do
  local k, ms, rep = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local key = ARGV[1] .. 'ban:' .. k
  local till, bans = 0, 0
  local v = redis.call('GET', key)
  if v then
    local t, b = string.match(v, '^(%d+):(%d+)$')
    if t then till, bans = tonumber(t), tonumber(b) end
  end
  if till <= now then
    redis.call('SET', key, (now + ms) .. ':' .. math.max(bans, rep), 'PX', math.max(ms, redis.call('PTTL', key)))
    redis.call('ZADD', KEYS[1], now + ms, k)
  end
end
return redis.call('INCR', KEYS[2])`;

/**
 * Make a process's index (KEYS[2], when given) last at least `ttl` ms: it holds entries that live that long.
 */
const INDEX_TTL = `local function keep(index, ttl)
  if redis.call('PTTL', index) < tonumber(ttl) then redis.call('PEXPIRE', index, ttl) end
end`;

/**
 * Take a key lock (S3 per-key lock, shared). KEYS: lock, and the taking process's index of its locks
 * (NODE_GONE gives them back when a --workers worker dies). ARGV: token, ttlMs. Returns "OK" or nil (held).
 */
export const KEY_LOCK = `${INDEX_TTL}
local ok = redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])
if ok and KEYS[2] then
  redis.call('HSET', KEYS[2], KEYS[1], ARGV[1])
  keep(KEYS[2], ARGV[2])
end
return ok`;

/** Extend a key lock still held under the token. KEYS: lock, the process's index. ARGV: token, ttlMs. Returns 1, or 0 (lost). */
export const KEY_RENEW = `${INDEX_TTL}
if redis.call('GET', KEYS[1]) == ARGV[1] then
  if KEYS[2] then keep(KEYS[2], ARGV[2]) end
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** Give a key lock back if still held under the token (compare-and-delete). KEYS: lock, the process's index. ARGV: token. */
export const KEY_UNLOCK = `if KEYS[2] and redis.call('HGET', KEYS[2], KEYS[1]) == ARGV[1] then redis.call('HDEL', KEYS[2], KEYS[1]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * A process's multipart uploads in progress (S3), so that the survivors of a --workers worker that died
 * abort its uploads (UPLOADS_CLAIM). KEYS: the process's index. ARGV: entry, live (1/0), keepMs.
 */
export const UPLOAD_NOTE = `if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], ARGV[1], '1')
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 1`;

/** Take a dead process's index of uploads: the first caller gets its entries, any other none. KEYS: the index. */
export const UPLOADS_CLAIM = `local all = redis.call('HKEYS', KEYS[1])
redis.call('DEL', KEYS[1])
return all`;
