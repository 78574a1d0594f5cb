import type { ErrorCode } from '@molecule/contracts';
import { DomainError, platformUnavailable as domainPlatformUnavailable } from '../errors.js';

/** The HTTP status of each domain error code: the one place a code becomes a status. */
export const HTTP_STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  invalid_request: 400,
  invalid_json: 400,
  payload_too_large: 413,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  gone: 410,
  conflict: 409,
  confirmation_required: 409,
  unprocessable: 422,
  rate_limited: 429,
  platform_unavailable: 503,
  internal: 500,
  budget_exceeded: 402,
  precondition_failed: 412,
  agent_busy: 503,
  agent_unavailable: 503,
  agent_unreachable: 502,
  agent_timeout: 504,
  agent_error: 502,
  not_supported: 501,
};

/**
 * An error the HTTP edge (routes, auth hooks) answers with: a status and a message that is safe to
 * show a client. Services throw `DomainError` instead; anything else that reaches the error handler
 * is logged and answered with a canned 500.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly code?: ErrorCode,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }

  body(): Record<string, unknown> {
    return { error: this.message, ...(this.code ? { code: this.code } : {}), ...this.extra };
  }

  /** The answer to a service's refusal. */
  static of(err: DomainError): HttpError {
    return new HttpError(HTTP_STATUS_OF[err.code], err.message, err.code, err.details);
  }
}

export const badRequest = (msg: string, extra?: Record<string, unknown>) => new HttpError(400, msg, 'invalid_request', extra);
export const unauthorized = (msg = 'authentication required') => new HttpError(401, msg, 'unauthorized');
export const forbidden = (msg: string) => new HttpError(403, msg, 'forbidden');
export const notFound = (msg: string) => new HttpError(404, msg, 'not_found');
export const conflict = (msg: string, extra?: Record<string, unknown>) => new HttpError(409, msg, 'conflict', extra);
export const gone = (msg: string, extra?: Record<string, unknown>) => new HttpError(410, msg, 'gone', extra);

/** Text PostgreSQL cannot store (U+0000, unpaired surrogates): refused at the edge, in the body and in the URL. */
export const UNSTORABLE_MESSAGE = 'text must not contain NUL (U+0000) or unpaired surrogate characters';
export const unstorableRefused = () => badRequest(UNSTORABLE_MESSAGE);

/** The datastore failed while checking a credential: never grant, never leak the cause. */
export const platformUnavailable = () => HttpError.of(domainPlatformUnavailable());

/** An HttpError for anything the edge can answer safely (its own errors and services' refusals); undefined otherwise. */
export function asHttpError(err: unknown): HttpError | undefined {
  if (err instanceof HttpError) return err;
  if (err instanceof DomainError) return HttpError.of(err);
  return undefined;
}

/**
 * Whether `err` is a Redis client saying the server cannot be reached (the rate limiter's store
 * calls Redis directly): not connected, connection closed, or retries exhausted.
 */
export function isRedisUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'MaxRetriesPerRequestError' || /^(Stream isn't writeable|Connection is closed)/.test(err.message);
}
