import { AgentCard } from '@molecule/contracts';
import { readAnswer, type A2ADispatcher } from '../a2a/dispatch.js';

/** Where an A2A service publishes its card, newest spec first (A2A 0.3+, then 0.2). */
export const AGENT_CARD_PATHS = ['/.well-known/agent-card.json', '/.well-known/agent.json'] as const;
/** The largest card read; a bigger answer is not a card worth showing. */
export const MAX_AGENT_CARD_BYTES = 256 * 1024;
/** How long one card request may take, all of it. */
export const AGENT_CARD_TIMEOUT_MS = 5_000;

/**
 * The agent card an A2A service publishes at its origin's well-known path, fetched through the
 * guarded A2A client (the agent-URL policy, checked again at connect), following no redirect:
 * the first path answering 200 with a JSON object that has a string `name` wins. Undefined when
 * no path does (not found, not JSON, too big, too slow, refused by the URL rules); never throws.
 */
export async function fetchAgentCard(dispatcher: Pick<A2ADispatcher, 'forward'>, agentUrl: string): Promise<AgentCard | undefined> {
  let origin: string;
  try {
    origin = new URL(agentUrl).origin;
  } catch {
    return undefined;
  }
  for (const path of AGENT_CARD_PATHS) {
    try {
      const res = await dispatcher.forward(origin + path, { method: 'GET', headers: { accept: 'application/json' }, signal: AbortSignal.timeout(AGENT_CARD_TIMEOUT_MS) });
      if (res.status !== 200) {
        res.body.resume();
        continue;
      }
      const card: unknown = JSON.parse((await readAnswer(res.body, MAX_AGENT_CARD_BYTES)).toString('utf8'));
      const parsed = AgentCard.safeParse(card);
      if (parsed.success && typeof parsed.data.name === 'string' && parsed.data.name.trim() !== '') return parsed.data;
    } catch {
      // Unreachable, refused, too big, too slow or not JSON: try the next path.
    }
  }
  return undefined;
}
