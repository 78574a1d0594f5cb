import { z } from 'zod';

/** The largest terminal, either way, a resize may ask for (and the smallest: 1). */
export const TERMINAL_MAX_SIZE = 1000;
/** The largest WebSocket frame the platform takes on `/ws` and `/workspaces/:id/terminal`; larger closes with 1009. */
export const TERMINAL_MAX_FRAME_BYTES = 64 * 1024;
/** The close code of a terminal idle longer than MOLECULE_TERMINAL_IDLE_MS (4000-4999: the application's own). */
export const TERMINAL_IDLE_CLOSE_CODE = 4000;

const size = z.number().int().min(1).max(TERMINAL_MAX_SIZE);

/** A control message from the client: a text frame holding JSON (binary frames are keystrokes). */
export const TerminalClientMessage = z.discriminatedUnion('type', [z.object({ type: z.literal('resize'), cols: size, rows: size })]);
export type TerminalClientMessage = z.infer<typeof TerminalClientMessage>;

/** A control message from the server (a text frame); the shell's output comes as binary frames. */
export const TerminalServerMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('exit'), code: z.number().int() }),
  z.object({ type: z.literal('error'), error: z.string() }),
]);
export type TerminalServerMessage = z.infer<typeof TerminalServerMessage>;

/** One stage of the terminal pipeline, run non-interactively (C228). */
export const TerminalDiagnoseStep = z.object({
  name: z.string(),
  ok: z.boolean(),
  duration_ms: z.number().int().min(0),
  error: z.string().optional(),
  detail: z.string().optional(),
});
export type TerminalDiagnoseStep = z.infer<typeof TerminalDiagnoseStep>;

/** `GET /workspaces/:id/terminal/diagnose`: always 200; `first_failure` names the first broken step (C228). */
export const TerminalDiagnosis = z.object({
  workspace_id: z.string(),
  backend: z.string(),
  steps: z.array(TerminalDiagnoseStep),
  first_failure: z.string().optional(),
});
export type TerminalDiagnosis = z.infer<typeof TerminalDiagnosis>;
