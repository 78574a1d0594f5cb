import { z } from 'zod';

/** Machine-readable error codes carried in `{error, code}` bodies. */
export const ERROR_CODES = [
  'invalid_request',
  'invalid_json',
  'payload_too_large',
  'unauthorized',
  'forbidden',
  'not_found',
  'gone',
  'conflict',
  'confirmation_required',
  'unprocessable',
  'rate_limited',
  'platform_unavailable',
  'internal',
  'budget_exceeded',
  'precondition_failed',
  'agent_busy',
  'agent_unavailable',
  'agent_unreachable',
  'agent_timeout',
  'agent_error',
  'not_supported',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const ErrorBody = z
  .object({
    error: z.string(),
    code: z.enum(ERROR_CODES).optional(),
  })
  .catchall(z.unknown());
export type ErrorBody = z.infer<typeof ErrorBody>;
