import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The server's Prometheus registry; one per app instance so tests never share counters. */
export interface Metrics {
  registry: Registry;
  httpDuration: Histogram<'method' | 'route' | 'status'>;
  events: Counter<'type'>;
  eventPublishErrors: Counter<'type'>;
  wsConnections: Gauge;
  sseConnections: Gauge;
  loopPasses: Counter<'loop' | 'outcome'>;
  memoryEmbeddings: Counter<'op' | 'outcome'>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpDuration: new Histogram({
      name: 'molecule_http_request_duration_seconds',
      help: 'HTTP request duration by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    events: new Counter({
      name: 'molecule_events_total',
      help: 'Events published on the bus, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    eventPublishErrors: new Counter({
      name: 'molecule_event_publish_errors_total',
      help: 'Events that could not be published on the bus, by type',
      labelNames: ['type'],
      registers: [registry],
    }),
    wsConnections: new Gauge({ name: 'molecule_websocket_connections_active', help: 'Open /ws connections', registers: [registry] }),
    sseConnections: new Gauge({ name: 'molecule_sse_connections_active', help: 'Open SSE streams', registers: [registry] }),
    loopPasses: new Counter({
      name: 'molecule_loop_passes_total',
      help: 'Background loop passes on this replica, by loop and outcome (ran, skipped_locked: another replica held it, error)',
      labelNames: ['loop', 'outcome'],
      registers: [registry],
    }),
    memoryEmbeddings: new Counter({
      name: 'molecule_memory_embeddings_total',
      help: 'Embeddings asked for memory commits and searches, by op (commit, search) and outcome (embedded, or why not: timeout, unavailable, status, bad_answer, dimensions, refused_url, breaker_open)',
      labelNames: ['op', 'outcome'],
      registers: [registry],
    }),
  };
}
