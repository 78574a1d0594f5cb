import { Redis } from 'ioredis';
import { notifyExpired, type ExpiryHandler, type LivenessStore } from './port.js';

export const LIVENESS_NAMESPACE = 'molecule:liveness';

export interface RedisLivenessOptions {
  url: string;
  /** Key namespace; replicas that share one must share this. Tests use a fresh one each. */
  namespace?: string;
  /** How often this replica looks for passed deadlines. */
  sweepIntervalMs?: number;
  onError?: (err: unknown, workspaceId?: string) => void;
}

// Deadlines use the Redis server's clock, so replicas with skewed clocks agree on them.
const NOW_MS = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: deadlines zset, then one alive key per id. ARGV: id and ttl ms per alive key, in pairs. */
const TOUCH = `${NOW_MS}
for i = 2, #KEYS do
  local ttl = tonumber(ARGV[2 * i - 2])
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[2 * i - 3])
  redis.call('SET', KEYS[i], '1', 'PX', ttl)
end
return 1`;

/** KEYS: deadlines zset, then one alive key per id. ARGV: ttl ms, then the ids. */
const SEED = `${NOW_MS}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV do
  if redis.call('ZADD', KEYS[1], 'NX', now + ttl, ARGV[i]) == 1 then
    redis.call('SET', KEYS[i], '1', 'PX', ttl)
  end
end
return 1`;

/** KEYS: deadlines zset. ARGV: batch size. Claims (removes and returns) ids whose deadline passed. */
const CLAIM = `${NOW_MS}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #ids > 0 then redis.call('ZREM', KEYS[1], unpack(ids)) end
return ids`;

interface LivenessCommands {
  livenessTouch(...args: (string | number)[]): Promise<number>;
  livenessSeed(...args: (string | number)[]): Promise<number>;
  livenessClaim(deadlines: string, batch: number): Promise<string[]>;
}

const CLAIM_BATCH = 100;
const TOUCH_BATCH = 500;

/**
 * Redis liveness: a sorted set of deadlines plus a key with a TTL per workspace (for inspection
 * and `isAlive`). Keyspace notifications are fire-and-forget and reach only connected clients, so
 * instead every replica sweeps the sorted set; the claim is one Lua script (remove and return), so
 * each expired id is handed to exactly one replica. All keys share one hash tag (cluster-safe).
 */
export async function createRedisLiveness(opts: RedisLivenessOptions): Promise<LivenessStore> {
  const ns = `{${opts.namespace ?? LIVENESS_NAMESPACE}}`;
  const deadlines = `${ns}:deadlines`;
  const aliveKey = (id: string) => `${ns}:alive:${id}`;
  const onError = opts.onError ?? (() => {});
  // Auto-pipelining sends the touches of concurrent heartbeats in one write. No offline queue: while
  // Redis is down a touch fails at once (logged; the heartbeat is still recorded in PostgreSQL).
  const redis = new Redis(opts.url, { lazyConnect: true, maxRetriesPerRequest: 3, enableAutoPipelining: true, enableOfflineQueue: false });
  redis.on('error', (err) => onError(err));
  redis.defineCommand('livenessTouch', { lua: TOUCH });
  redis.defineCommand('livenessSeed', { lua: SEED });
  redis.defineCommand('livenessClaim', { numberOfKeys: 1, lua: CLAIM });
  const cmd = redis as unknown as Redis & LivenessCommands;
  await redis.connect();

  // The touches of one turn of the event loop (a heartbeat flush refreshes hundreds) go in one
  // script call.
  let touches: { id: string; ttlMs: number; done: (err?: unknown) => void }[] = [];
  const sendTouches = () => {
    const batch = touches;
    touches = [];
    for (let i = 0; i < batch.length; i += TOUCH_BATCH) {
      const part = batch.slice(i, i + TOUCH_BATCH);
      cmd.livenessTouch(1 + part.length, deadlines, ...part.map((t) => aliveKey(t.id)), ...part.flatMap((t) => [t.id, t.ttlMs])).then(
        () => part.forEach((t) => t.done()),
        (err: unknown) => part.forEach((t) => t.done(err)),
      );
    }
  };

  const handlers = new Set<ExpiryHandler>();
  let sweeping: Promise<void> | undefined;
  const sweepOnce = async () => {
    for (;;) {
      const ids = await cmd.livenessClaim(deadlines, CLAIM_BATCH);
      for (const id of ids) await notifyExpired([...handlers], id, onError);
      if (ids.length < CLAIM_BATCH) return;
    }
  };
  const timer = setInterval(() => {
    // Claiming removes ids from the shared set: never claim with nobody here to act on them.
    if (sweeping || handlers.size === 0) return;
    sweeping = sweepOnce()
      .catch((err: unknown) => onError(err))
      .finally(() => {
        sweeping = undefined;
      });
  }, opts.sweepIntervalMs ?? 1000);
  timer.unref();

  const ttl = (ms: number) => Math.max(1, Math.round(ms));
  return {
    kind: 'redis',
    touch(id, ttlMs) {
      return new Promise<void>((resolve, reject) => {
        if (touches.length === 0) setImmediate(sendTouches);
        touches.push({ id, ttlMs: ttl(ttlMs), done: (err) => (err === undefined ? resolve() : reject(err)) });
      });
    },
    async seed(ids, ttlMs) {
      for (let i = 0; i < ids.length; i += 500) {
        const chunk = ids.slice(i, i + 500);
        await cmd.livenessSeed(1 + chunk.length, deadlines, ...chunk.map(aliveKey), ttl(ttlMs), ...chunk);
      }
    },
    async forget(id) {
      await redis.multi().zrem(deadlines, id).del(aliveKey(id)).exec();
    },
    async isAlive(id) {
      return (await redis.exists(aliveKey(id))) === 1;
    },
    onExpired(handler) {
      handlers.add(handler);
      return () => handlers.delete(handler);
    },
    async close() {
      clearInterval(timer);
      await sweeping;
      handlers.clear();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
