/** Agent-to-agent dispatches end after this long whatever happens (C042); user calls have no ceiling. */
export const AGENT_CALL_CEILING_SECONDS = 30 * 60;
/** Upstream answers that may mean "the agent is gone" (C046); 520 and 525 are not among them. */
export const DEAD_AGENT_STATUSES: ReadonlySet<number> = new Set([502, 503, 504, 521, 522, 523, 524]);
