/**
 * Secret redaction for text the platform stores on an agent's behalf (memories, C241): what looks
 * like a credential is replaced by `[REDACTED:<LABEL>]` before anything leaves the platform. Patterns,
 * in order (a span matched once is not matched again):
 * - a PEM private key block;
 * - `NAME_API_KEY=...`, `NAME_TOKEN=...`, `NAME_SECRET=...`, `PASSWORD=...` assignments (`=` or `:`);
 * - `Bearer <token>` and `Basic <credentials>`;
 * - provider key shapes: `sk-...` (OpenAI, Anthropic `sk-ant-...`), `ghp_`/`gho_`/`ghs_`/`github_pat_`,
 *   `xox[abpr]-` (Slack), `AKIA...` (AWS access key id), `ctx7_...`, this platform's `mol_ws_`/`mol_org_`;
 * - `eyJ...` JSON Web Tokens;
 * - any other base64-looking run of 33 or more characters with letters and digits mixed.
 */
const PATTERNS: { label: string; re: RegExp; keep?: (m: RegExpExecArray) => string }[] = [
  { label: 'PRIVATE_KEY', re: /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g },
  { label: 'ASSIGNMENT', re: /\b([A-Z][A-Z0-9_]*(?:API_KEY|TOKEN|SECRET|PASSWORD|PASSWD))(\s*[=:]\s*)("?)[^\s"']{4,}\3/g, keep: (m) => `${m[1]}${m[2]}` },
  { label: 'BEARER', re: /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/g, keep: (m) => `${m[1]} ` },
  { label: 'API_KEY', re: /\b(?:sk-(?:ant-)?[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|AKIA[0-9A-Z]{16}|ctx7_[A-Za-z0-9_-]{8,}|mol_(?:ws|org)_[A-Za-z0-9_-]{16,})/g },
  { label: 'JWT', re: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
  { label: 'BASE64', re: /(?<![A-Za-z0-9+/=_-])(?=[A-Za-z0-9+/_-]*[0-9])(?=[A-Za-z0-9+/_-]*[A-Za-z])[A-Za-z0-9+/_-]{33,}={0,2}(?![A-Za-z0-9+/=_-])/g },
];

export function redactSecrets(text: string): { text: string; redactions: number } {
  let out = text;
  let redactions = 0;
  for (const p of PATTERNS) {
    out = out.replace(p.re, (...args: unknown[]) => {
      const match = args[0] as string;
      // Already redacted by an earlier pattern: leave it.
      if (match.includes('[REDACTED:')) return match;
      redactions++;
      const m = Object.assign([...(args.slice(0, -2) as string[])], { index: 0, input: '' }) as unknown as RegExpExecArray;
      return `${p.keep ? p.keep(m) : ''}[REDACTED:${p.label}]`;
    });
  }
  return { text: out, redactions };
}
