/** Defaults shared by the server and the CLI (which must not load the server to learn them). */
export const DEFAULT_PLATFORM_URL = 'http://127.0.0.1:8080';
/** Where the embedded database and the generated admin token live (MOLECULE_DATA_DIR). */
export const DEFAULT_DATA_DIR = './.molecule';
/** File name, inside the data dir, of the admin token generated on a loopback-only first start. */
export const ADMIN_TOKEN_FILE = 'admin_token';
