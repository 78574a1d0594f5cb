import type { ErrorCode } from '@molecule/contracts';

/**
 * What a service refuses, in domain terms: a code from `packages/contracts` and a message that is
 * safe to show a client (no SQL, stack, secret or host). The HTTP edge (`http/errors.ts`) alone turns
 * the code into a status; `details` become extra fields of the error body.
 */
export class DomainError extends Error {
  override readonly name = 'DomainError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** The caller can fix it (bad input, no access, wrong state); the others are the platform's or an agent's trouble. */
  get callerFault(): boolean {
    return CALLER_FAULT_CODES.has(this.code);
  }
}

/** Codes whose refusal is the caller's to fix (the HTTP edge answers them with a 4xx). */
export const CALLER_FAULT_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
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
  'budget_exceeded',
  'precondition_failed',
]);

type Details = Record<string, unknown>;
export const invalid = (message: string, details?: Details) => new DomainError('invalid_request', message, details);
export const unauthenticated = (message = 'authentication required') => new DomainError('unauthorized', message);
export const denied = (message: string) => new DomainError('forbidden', message);
export const notFound = (message: string) => new DomainError('not_found', message);
export const conflict = (message: string, details?: Details) => new DomainError('conflict', message, details);
export const gone = (message: string, details?: Details) => new DomainError('gone', message, details);
export const preconditionFailed = (message: string, details?: Details) => new DomainError('precondition_failed', message, details);
export const unprocessable = (message: string) => new DomainError('unprocessable', message);

/** The datastore failed while checking a credential: never grant, never leak the cause. */
export const platformUnavailable = (message = 'platform datastore unavailable, retry shortly') => new DomainError('platform_unavailable', message);
