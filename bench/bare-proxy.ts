/**
 * bench/a2a-proxy's floor for a proxy written in Node: Fastify (the server's HTTP framework) taking
 * the body as bytes and forwarding it with undici (the server's HTTP client) to BARE_PROXY_TARGET,
 * answering with the agent's status and bytes. No auth, lookup, parsing, timers or logging: the least
 * a Node process pays to relay one request. Reads PORT; prints "listening" once ready.
 */
import Fastify from 'fastify';
import { Agent, request } from 'undici';

const target = process.env.BARE_PROXY_TARGET!;
const pool = new Agent({ connections: 256 });
const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.post('/a2a', async (req, reply) => {
  const res = await request(target, { method: 'POST', body: req.body as Buffer, headers: { 'content-type': 'application/json' }, dispatcher: pool });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return reply.status(res.statusCode).header('content-type', 'application/json').send(bytes);
});
await app.listen({ port: Number(process.env.PORT), host: '127.0.0.1' });
process.stdout.write('listening\n');

const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
