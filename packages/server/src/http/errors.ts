import type { ErrorCode } from '@molecule/contracts';

/**
 * An error whose message is safe to show a client. Anything else that reaches the error handler is
 * logged and answered with a canned 500.
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
}

export const badRequest = (msg: string, extra?: Record<string, unknown>) => new HttpError(400, msg, 'invalid_request', extra);
export const unauthorized = (msg = 'authentication required') => new HttpError(401, msg, 'unauthorized');
export const forbidden = (msg: string) => new HttpError(403, msg, 'forbidden');
export const notFound = (msg: string) => new HttpError(404, msg, 'not_found');
export const conflict = (msg: string, extra?: Record<string, unknown>) => new HttpError(409, msg, 'conflict', extra);
export const gone = (msg: string, extra?: Record<string, unknown>) => new HttpError(410, msg, 'gone', extra);

/** The datastore failed while checking a credential: never grant, never leak the cause. */
export const platformUnavailable = () =>
  new HttpError(503, 'platform datastore unavailable, retry shortly', 'platform_unavailable');
