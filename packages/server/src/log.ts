import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** JSON logs; human-readable when stdout is a terminal. Secrets are redacted by path. */
export function createLogger(opts: { level?: string; pretty?: boolean } = {}): Logger {
  const pretty = opts.pretty ?? process.stdout.isTTY;
  return pino({
    level: opts.level ?? 'info',
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', '*.token', '*.auth_token', '*.admin_token'],
      censor: '[redacted]',
    },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname' } } } : {}),
  });
}
