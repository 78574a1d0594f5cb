import { describe, expect, it } from 'vitest';
import { agentUrlPolicy, checkAgentUrl, classifyAddress, type AgentUrlPolicy, type HostResolver } from './agent-url.js';

/** A resolver with a fixed table, so tests never depend on the machine's DNS. */
const fakeDns = (table: Record<string, string[]>): HostResolver => async (host) => {
  const hit = table[host];
  if (!hit) throw new Error(`getaddrinfo ENOTFOUND ${host}`);
  return hit;
};

const dns = fakeDns({
  'agent.example.com': ['93.184.216.34'],
  'metadata.attacker.test': ['169.254.169.254'],
  'cgnat.attacker.test': ['100.64.0.1'],
  'testnet.attacker.test': ['192.0.2.1'],
  'mixed.attacker.test': ['93.184.216.34', '169.254.169.254'],
  'v6-metadata.attacker.test': ['fe80::1'],
  'internal.corp.test': ['10.1.2.3'],
  'dual.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  'empty.test': [],
});
const dev: AgentUrlPolicy = { allowPrivate: true, resolve: dns };
const prod: AgentUrlPolicy = { allowPrivate: false, resolve: dns };

describe('classifyAddress', () => {
  it.each([
    ['169.254.169.254', 'blocked'],
    ['169.254.0.1', 'blocked'],
    ['100.64.0.1', 'blocked'],
    ['100.127.255.255', 'blocked'],
    ['192.0.2.1', 'blocked'],
    ['198.51.100.7', 'blocked'],
    ['203.0.113.9', 'blocked'],
    ['224.0.0.1', 'blocked'],
    ['239.255.255.250', 'blocked'],
    ['255.255.255.255', 'blocked'],
    ['0.0.0.0', 'blocked'],
    ['0.1.2.3', 'blocked'],
    ['198.18.0.1', 'blocked'],
    ['fe80::1', 'blocked'],
    ['febf:ffff::1', 'blocked'],
    ['ff02::1', 'blocked'],
    ['2001:db8::1', 'blocked'],
    ['::', 'blocked'],
    ['::a9fe:a9fe', 'blocked'],
    ['::ffff:169.254.169.254', 'blocked'],
    ['::ffff:a9fe:a9fe', 'blocked'],
    ['64:ff9b::a9fe:a9fe', 'blocked'],
    ['2002:a9fe:a9fe::1', 'blocked'],
    ['127.0.0.1', 'private'],
    ['127.255.0.9', 'private'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.254', 'private'],
    ['192.168.1.1', 'private'],
    ['::1', 'private'],
    ['::ffff:127.0.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fc00::1', 'private'],
    ['8.8.8.8', 'public'],
    ['93.184.216.34', 'public'],
    ['172.32.0.1', 'public'],
    ['100.128.0.1', 'public'],
    ['2606:4700::1111', 'public'],
    ['not-an-ip', 'blocked'],
  ])('%s is %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });
});

describe('checkAgentUrl (C012, C218-C220)', () => {
  it.each([
    // [label, url, policy, ok or rejection reason]
    ['C220 a public address', 'http://8.8.8.8:8000', prod, 'ok'],
    ['C220 a public hostname', 'https://agent.example.com/a2a', prod, 'ok'],
    ['a hostname with v4 and v6 public addresses', 'https://dual.example.com', prod, 'ok'],
    ['a public IPv6 literal', 'http://[2606:4700::1111]:8000', prod, 'ok'],
    ['C218 the metadata address, development', 'http://169.254.169.254/latest/meta-data', dev, 'blocked'],
    ['C218 the metadata address, production', 'http://169.254.169.254', prod, 'blocked'],
    ['C218 CGNAT, development', 'http://100.64.0.1:8000', dev, 'blocked'],
    ['C218 TEST-NET-1, development', 'http://192.0.2.1', dev, 'blocked'],
    ['C218 TEST-NET-2', 'http://198.51.100.1', dev, 'blocked'],
    ['C218 TEST-NET-3', 'http://203.0.113.1', dev, 'blocked'],
    ['multicast', 'http://224.0.0.251', dev, 'blocked'],
    ['0.0.0.0', 'http://0.0.0.0:8000', dev, 'blocked'],
    ['IPv6 link-local', 'http://[fe80::1]:8000', dev, 'blocked'],
    ['IPv4-mapped metadata', 'http://[::ffff:169.254.169.254]/', dev, 'blocked'],
    ['the metadata address as one decimal number', 'http://2852039166/', dev, 'blocked'],
    ['the metadata address in hex octets', 'http://0xa9.0xfe.0xa9.0xfe/', dev, 'blocked'],
    ['a hostname resolving to the metadata address', 'http://metadata.attacker.test', dev, 'blocked'],
    ['a hostname resolving to CGNAT', 'http://cgnat.attacker.test', dev, 'blocked'],
    ['a hostname resolving to TEST-NET', 'http://testnet.attacker.test', dev, 'blocked'],
    ['a hostname with one bad address among good ones', 'http://mixed.attacker.test', prod, 'blocked'],
    ['a hostname resolving to IPv6 link-local', 'http://v6-metadata.attacker.test', dev, 'blocked'],
    ['C012 loopback in production', 'http://127.0.0.1:8000', prod, 'private'],
    ['C012 loopback in 127/8 in production', 'http://127.1.2.3:8000', prod, 'private'],
    ['C012 IPv6 loopback in production', 'http://[::1]:8000', prod, 'private'],
    ['loopback in development (local agents)', 'http://127.0.0.1:8000', dev, 'ok'],
    ['C219 RFC 1918 in production', 'http://10.0.0.5:8000', prod, 'private'],
    ['C219 RFC 1918 172.16/12 in production', 'http://172.18.0.3:8000', prod, 'private'],
    ['C219 RFC 1918 192.168/16 in production', 'http://192.168.1.20', prod, 'private'],
    ['C219 ULA in production', 'http://[fd00::5]:8000', prod, 'private'],
    ['C219 RFC 1918 in development', 'http://172.18.0.3:8000', dev, 'ok'],
    ['C219 ULA in development', 'http://[fd00::5]:8000', dev, 'ok'],
    ['a hostname resolving to RFC 1918 in production', 'http://internal.corp.test', prod, 'private'],
    ['a hostname resolving to RFC 1918 in development', 'http://internal.corp.test', dev, 'ok'],
    ['an unresolvable hostname', 'http://nowhere.invalid', dev, 'unresolvable'],
    ['a hostname with no addresses', 'http://empty.test', dev, 'unresolvable'],
    ['a non-http scheme', 'file:///etc/passwd', dev, 'scheme'],
    ['gopher', 'gopher://agent.example.com', dev, 'scheme'],
    ['credentials in the URL', 'http://user:pw@agent.example.com', dev, 'credentials'],
    ['not a URL', 'agent.example.com:8000', dev, 'scheme'],
    ['garbage', 'http://', dev, 'invalid_url'],
    ['empty', '', dev, 'invalid_url'],
  ])('%s: %s', async (_label, url, policy, expected) => {
    const r = await checkAgentUrl(url, policy);
    expect(r.ok ? 'ok' : r.reason, JSON.stringify(r)).toBe(expected);
  });

  it('with the real resolver, "localhost" is refused in production and allowed in development', async () => {
    expect(await checkAgentUrl('http://localhost:8000', agentUrlPolicy('production'))).toMatchObject({ ok: false, reason: 'private' });
    expect(await checkAgentUrl('http://localhost:8000', agentUrlPolicy('development'))).toMatchObject({ ok: true });
  });

  it('a resolver that hangs is bounded and counts as unresolvable', async () => {
    const hang: AgentUrlPolicy = { allowPrivate: true, resolve: () => new Promise(() => {}), resolveTimeoutMs: 50 };
    expect(await checkAgentUrl('http://slow.example.com', hang)).toMatchObject({ ok: false, reason: 'unresolvable' });
  });

  it('answers the resolved addresses on success', async () => {
    expect(await checkAgentUrl('https://dual.example.com', prod)).toMatchObject({
      ok: true,
      addresses: ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
    });
  });
});
