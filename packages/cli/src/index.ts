export { buildProgram, runCli, type CliIo } from './program.js';
export {
  ApiError,
  MoleculeClient,
  PlatformUnreachableError,
  type ClientOptions,
  type CreatedToken,
  type CreatedWorkspace,
  type DeleteWorkspaceResult,
} from './client.js';
export { resolveConnection, DEFAULT_URL, type Connection, type ConnectionFlags } from './connection.js';
export { CliError } from './errors.js';
