import { ERROR_CODES } from '@molecule/contracts';
import { describe, expect, it } from 'vitest';
import { CALLER_FAULT_CODES, DomainError, notFound } from '../errors.js';
import { asHttpError, HTTP_STATUS_OF } from './errors.js';

describe('domain errors at the HTTP edge', () => {
  it('every code has a status, and the caller-fault codes are exactly the 4xx ones', () => {
    for (const code of ERROR_CODES) {
      const status = HTTP_STATUS_OF[code];
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(CALLER_FAULT_CODES.has(code), code).toBe(status < 500);
    }
  });

  it('a service refusal becomes its status and a body with its code and details', () => {
    const http = asHttpError(new DomainError('confirmation_required', 'say yes', { children: 2 }))!;
    expect(http.statusCode).toBe(409);
    expect(http.body()).toEqual({ error: 'say yes', code: 'confirmation_required', children: 2 });
    expect(asHttpError(notFound('nope'))!.statusCode).toBe(404);
    expect(asHttpError(new Error('boom'))).toBeUndefined();
  });
});
