/** Defaults shared by the server and the CLI (which must not load the server to learn them). */
export const DEFAULT_PLATFORM_URL = 'http://127.0.0.1:8080';
/** Where the embedded database and the generated admin token live (MOLECULE_DATA_DIR). */
export const DEFAULT_DATA_DIR = './.molecule';
/** File name, inside the data dir, of the admin token generated on a loopback-only first start. */
export const ADMIN_TOKEN_FILE = 'admin_token';

/**
 * Provider settings an operator gave the platform's own environment, passed on to local agents
 * until workspace secrets exist, and the LLM variables a workspace shell keeps (shared by the
 * server's backends and molecule-agent's terminal). Nothing else of either environment is passed.
 */
export const AGENT_ENV_PASSTHROUGH = ['ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'OPENAI_API_KEY', 'OPENAI_BASE_URL'] as const;
