import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import type { MoleculeEnv } from '../config.js';
import { abortable } from '../net/abortable.js';

/** Resolves a hostname to every address it has (A and AAAA). */
export type HostResolver = (hostname: string) => Promise<string[]>;

/**
 * What an agent URL may point at. `allowPrivate` admits loopback, RFC 1918 and IPv6 ULA targets,
 * which local agents use (the embedded default runs them on 127.0.0.1, docker-compose on 172.x).
 */
export interface AgentUrlPolicy {
  allowPrivate: boolean;
  resolve: HostResolver;
  /** Bound on the DNS lookup; a slower answer counts as unresolvable. */
  resolveTimeoutMs?: number;
}

export type AgentUrlRejection = 'invalid_url' | 'scheme' | 'credentials' | 'unresolvable' | 'blocked' | 'private';

export type AgentUrlCheck =
  | { ok: true; url: URL; addresses: string[] }
  | { ok: false; reason: AgentUrlRejection; /** For the log only: which address or range. */ detail: string };

interface Range {
  cidr: string;
  label: string;
}

/** Never a legitimate agent, in any mode: metadata services, link-local, shared and reserved space. */
export const ALWAYS_BLOCKED: readonly Range[] = [
  { cidr: '0.0.0.0/8', label: '"this network"' },
  { cidr: '169.254.0.0/16', label: 'link-local / cloud metadata' },
  { cidr: '100.64.0.0/10', label: 'CGNAT shared space' },
  { cidr: '192.0.0.0/24', label: 'IETF protocol assignments' },
  { cidr: '192.0.2.0/24', label: 'TEST-NET-1' },
  { cidr: '198.18.0.0/15', label: 'benchmarking' },
  { cidr: '198.51.100.0/24', label: 'TEST-NET-2' },
  { cidr: '203.0.113.0/24', label: 'TEST-NET-3' },
  { cidr: '224.0.0.0/4', label: 'multicast' },
  { cidr: '240.0.0.0/4', label: 'reserved / broadcast' },
  { cidr: '::/128', label: 'unspecified' },
  { cidr: '::/96', label: 'IPv4-compatible (deprecated)' },
  { cidr: '100::/64', label: 'discard-only' },
  { cidr: 'fe80::/10', label: 'link-local' },
  { cidr: 'fec0::/10', label: 'site-local (deprecated)' },
  { cidr: 'ff00::/8', label: 'multicast' },
  { cidr: '2001:db8::/32', label: 'documentation' },
  // Translation prefixes embed an IPv4 address the platform would reach indirectly; no agent needs them.
  { cidr: '64:ff9b::/96', label: 'NAT64' },
  { cidr: '64:ff9b:1::/48', label: 'local-use NAT64' },
  { cidr: '2001::/32', label: 'Teredo' },
  { cidr: '2002::/16', label: '6to4' },
];

/** Local targets: allowed only when the policy says so (MOLECULE_ENV=development). */
export const PRIVATE: readonly Range[] = [
  { cidr: '127.0.0.0/8', label: 'loopback' },
  { cidr: '10.0.0.0/8', label: 'RFC 1918' },
  { cidr: '172.16.0.0/12', label: 'RFC 1918' },
  { cidr: '192.168.0.0/16', label: 'RFC 1918' },
  { cidr: '::1/128', label: 'loopback' },
  { cidr: 'fc00::/7', label: 'unique local (ULA)' },
];

function blockList(ranges: readonly Range[]): BlockList {
  const list = new BlockList();
  for (const r of ranges) {
    const [net, bits] = r.cidr.split('/') as [string, string];
    list.addSubnet(net, Number(bits), isIP(net) === 6 ? 'ipv6' : 'ipv4');
  }
  return list;
}

const alwaysBlocked = blockList(ALWAYS_BLOCKED);
const privateRanges = blockList(PRIVATE);

/**
 * Where one address falls: `blocked` (never dialled), `private` (dialled only when the policy
 * allows local targets) or `public`. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are judged by
 * their IPv4 address.
 */
export function classifyAddress(address: string): 'blocked' | 'private' | 'public' {
  const family = isIP(address);
  if (family === 0) return 'blocked';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  // Private first: the lists are disjoint except ::1, which also lies inside ::/96.
  if (privateRanges.check(address, type)) return 'private';
  if (alwaysBlocked.check(address, type)) return 'blocked';
  return 'public';
}

/** The system resolver: every A and AAAA record, in resolver order. */
export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/** The policy for a deployment: local targets only in development (C219). */
export function agentUrlPolicy(env: MoleculeEnv, resolve: HostResolver = systemResolver): AgentUrlPolicy {
  return { allowPrivate: env === 'development', resolve };
}

const DEFAULT_RESOLVE_TIMEOUT_MS = 3000;

/**
 * The one check for a URL the platform will dial on a workspace's behalf (register, discovery,
 * dispatch): http(s) only, no credentials in the URL, and every address the host resolves to must
 * be allowed (an unresolvable host is rejected). Metadata, link-local, CGNAT, TEST-NET, multicast
 * and reserved ranges are always refused; loopback, RFC 1918 and ULA only when
 * `policy.allowPrivate`. Never throws.
 *
 * A check at register time does not stop DNS rebinding; whoever dials re-runs this check.
 */
export async function checkAgentUrl(raw: string, policy: AgentUrlPolicy): Promise<AgentUrlCheck> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: 'invalid_url', detail: 'unparseable' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: 'scheme', detail: url.protocol };
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'credentials', detail: 'userinfo in URL' };

  const host = url.hostname.replace(/^\[|\]$/g, '');
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = await abortable(policy.resolve(host), AbortSignal.timeout(policy.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS));
    } catch (err) {
      return { ok: false, reason: 'unresolvable', detail: `${host}: ${err instanceof Error ? err.message : String(err)}` };
    }
    if (addresses.length === 0) return { ok: false, reason: 'unresolvable', detail: `${host}: no addresses` };
  }
  for (const address of addresses) {
    const cls = classifyAddress(address);
    if (cls === 'blocked') return { ok: false, reason: 'blocked', detail: `${host} -> ${address}` };
    if (cls === 'private' && !policy.allowPrivate) return { ok: false, reason: 'private', detail: `${host} -> ${address}` };
  }
  return { ok: true, url, addresses };
}
