/** A failure the CLI explains itself: printed as `error: <message>` plus `hint:` lines, then exit 1. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly hints: readonly string[] = [],
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
