import {
  Memory,
  MEMORY_CAPABILITIES,
  Namespace,
  PluginHealth,
  SearchResponse,
  type MemoryCapability,
  type MemoryWrite,
  type NamespaceKind,
  type SearchRequest,
} from '@molecule/contracts';
import type { z } from 'zod';

/** Consecutive failures that open the breaker, and how long it stays open (C239). */
export const BREAKER_FAILURES = 3;
export const BREAKER_OPEN_MS = 60_000;
export const PLUGIN_CALL_TIMEOUT_MS = 10_000;

/** Why a plugin call did not give an answer. `refused`: the plugin said no (4xx) with its reason. */
export class MemoryPluginError extends Error {
  override name = 'MemoryPluginError';
  constructor(
    readonly kind: 'breaker_open' | 'unavailable' | 'refused' | 'not_found' | 'conflict',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The platform's client of a memory plugin (contract memory-plugin-v1). Every call is bounded by a
 * timeout. A circuit breaker guards the plugin (C239): 3 consecutive failures (5xx, transport
 * errors, timeouts, answers that break the contract) open it for 60 s, during which every call fails
 * at once with `breaker_open`; a 4xx is the caller's problem and does not count; the first success
 * after the cooldown closes it. Capabilities come from `/v1/health` (C238).
 */
export class MemoryPluginClient {
  private failures = 0;
  private openUntil = 0;
  private caps: Set<string> = new Set();
  private healthAnswered = false;

  /**
   * `target` is the plugin's base URL, or a function giving it (the built-in store, which starts on
   * first use: a start that fails counts as a failed call).
   */
  constructor(
    private readonly target: string | (() => Promise<string>),
    private readonly opts: { timeoutMs?: number; now?: () => number } = {},
  ) {}

  /** The configured base URL; `built-in` for the in-process store. */
  get baseUrl(): string {
    return typeof this.target === 'string' ? this.target : 'built-in';
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Whether the last health answer listed `cap`; a plugin with none still serves the basic calls. */
  supports(cap: MemoryCapability): boolean {
    return this.caps.has(cap);
  }


  get breakerOpen(): boolean {
    return this.now() < this.openUntil;
  }

  private failed(): void {
    this.failures++;
    if (this.failures >= BREAKER_FAILURES) this.openUntil = this.now() + BREAKER_OPEN_MS;
  }

  private async call<T>(method: string, path: string, body: unknown, schema: z.ZodType<T> | undefined): Promise<T | undefined> {
    return (await this.send(method, path, body, schema)).value;
  }

  private async send<T>(method: string, path: string, body: unknown, schema: z.ZodType<T> | undefined): Promise<{ status: number; value: T | undefined }> {
    if (this.breakerOpen) throw new MemoryPluginError('breaker_open', 'the memory store is unavailable (failing repeatedly); retry in a minute');
    let res: Response;
    try {
      const base = typeof this.target === 'string' ? this.target : await this.target();
      res = await fetch(`${base.replace(/\/+$/, '')}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? PLUGIN_CALL_TIMEOUT_MS),
      });
    } catch {
      this.failed();
      throw new MemoryPluginError('unavailable', 'the memory store did not answer');
    }
    const text = await res.text().catch(() => '');
    if (res.status >= 500) {
      this.failed();
      throw new MemoryPluginError('unavailable', 'the memory store failed');
    }
    if (res.status >= 400) {
      // The plugin's refusal (bad input): not a health problem.
      this.failures = 0;
      let reason = '';
      try {
        reason = String((JSON.parse(text) as { error?: unknown }).error ?? '');
      } catch {
        reason = '';
      }
      const kind = res.status === 404 ? 'not_found' : res.status === 409 ? 'conflict' : 'refused';
      throw new MemoryPluginError(kind, reason.slice(0, 300) || `the memory store refused the request (${res.status})`);
    }
    if (res.status === 204 || schema === undefined) {
      this.failures = 0;
      return { status: res.status, value: undefined };
    }
    let parsed: T;
    try {
      parsed = schema.parse(JSON.parse(text));
    } catch {
      this.failed();
      throw new MemoryPluginError('unavailable', 'the memory store answered something that is not the memory contract');
    }
    this.failures = 0;
    this.openUntil = 0;
    return { status: res.status, value: parsed };
  }

  /** `GET /v1/health`; remembers the capabilities it lists. */
  async health(): Promise<PluginHealth> {
    const h = (await this.call('GET', '/v1/health', undefined, PluginHealth))!;
    this.caps = new Set(h.capabilities.filter((c) => (MEMORY_CAPABILITIES as readonly string[]).includes(c)));
    this.healthAnswered = true;
    return h;
  }

  upsertNamespace(name: string, kind: NamespaceKind): Promise<Namespace> {
    return this.call('PUT', `/v1/namespaces/${encodeURIComponent(name)}`, { kind }, Namespace) as Promise<Namespace>;
  }

  async deleteNamespace(name: string): Promise<void> {
    await this.call('DELETE', `/v1/namespaces/${encodeURIComponent(name)}`, undefined, undefined);
  }

  /** Stores a memory; `created` is false when `write.id` named one that existed (200, an upsert, C233). */
  async commit(namespace: string, write: MemoryWrite): Promise<{ memory: Memory; created: boolean }> {
    const r = await this.send('POST', `/v1/namespaces/${encodeURIComponent(namespace)}/memories`, write, Memory);
    return { memory: r.value!, created: r.status === 201 };
  }

  /**
   * Whether the plugin can do `cap`, asking its health once if it was never asked (the built-in
   * store is not probed at boot); a plugin that cannot answer can do nothing optional.
   */
  async can(cap: MemoryCapability): Promise<boolean> {
    if (!this.healthAnswered && !this.breakerOpen) await this.health().catch(() => undefined);
    return this.caps.has(cap);
  }

  async forget(namespace: string, id: string): Promise<void> {
    await this.call('DELETE', `/v1/namespaces/${encodeURIComponent(namespace)}/memories/${encodeURIComponent(id)}`, undefined, undefined);
  }

  search(req: SearchRequest): Promise<SearchResponse> {
    return this.call('POST', '/v1/search', req, SearchResponse) as Promise<SearchResponse>;
  }
}
