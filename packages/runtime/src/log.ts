import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/**
 * JSON logs on stdout (the process provisioner sends them to the workspace's log file). Bearer
 * headers and token fields are redacted by path; secrets are never logged by value anyway.
 */
export function createLogger(opts: { level?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: 'molecule-agent',
      level: opts.level ?? 'info',
      redact: {
        paths: ['headers.authorization', '*.headers.authorization', 'token', '*.token', '*.auth_token', '*.platform_inbound_secret'],
        censor: '[redacted]',
      },
    },
    opts.destination,
  );
}
