/**
 * The bench's reference points, run by bench/http.ts as a child process: a bare Fastify app (the
 * same fastify as the server; no plugins, hooks, auth or schemas) answering GET /workspaces/:id.
 *
 * - Without BARE_DATABASE_URL it answers BARE_BODY (JSON) from memory: the limit this machine,
 *   Node and Fastify allow. It also answers POST /registry/heartbeat with a fixed body, the no-op
 *   route bench/heartbeat.ts compares heartbeats with.
 * - With BARE_DATABASE_URL it answers the workspace row from one parameterised SELECT through a
 *   `pg` pool of the server's size: the limit once a PostgreSQL round trip is in the path.
 *
 * Reads PORT; prints "listening" once ready.
 */
import Fastify from 'fastify';
import pg from 'pg';

const port = Number(process.env.PORT);
const body: unknown = JSON.parse(process.env.BARE_BODY ?? '{}');
const databaseUrl = process.env.BARE_DATABASE_URL;

const app = Fastify({ logger: false });
if (databaseUrl) {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
  app.addHook('onClose', async () => pool.end());
  app.get<{ Params: { id: string } }>('/workspaces/:id', async (req, reply) => {
    const r = await pool.query('SELECT * FROM workspaces WHERE id = $1', [req.params.id]);
    return r.rows[0] ?? reply.code(404).send({ error: 'workspace not found' });
  });
} else {
  app.get('/workspaces/:id', async () => body);
  // bench/heartbeat's reference point: parse the JSON beat, answer a fixed body.
  app.post('/registry/heartbeat', async () => ({ status: 'ok' }));
}
await app.listen({ port, host: '127.0.0.1' });
process.stdout.write('listening\n');

const stop = () => void app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
