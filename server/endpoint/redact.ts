// Keeps API keys out of what the user sees and out of child processes: redacts them from any text that carries server
// words, and builds the environment of every program the extension starts (traced programs, helpers) without them.

/** Where a redacted secret stood. */
export const REDACTED = '[redacted]';

/** The variable the API key is read from by default; never passed on to a child. */
export const API_KEY_VARIABLE = 'CWM_API_KEY';

/** Secrets seen in this process (endpoint API keys), so that every message can be cleaned of them. */
const secrets = new Set<string>();

/** Shorter secrets are only redacted where they appear whole: a fragment that short could be ordinary text. */
const MIN_FRAGMENT = 8;

/** Remembers an API key: from now on it is redacted from messages and kept out of child environments. */
export function rememberSecret(secret: string | undefined): void {
  if (secret !== undefined && secret.trim() !== '') secrets.add(secret);
}

function knownSecrets(): string[] {
  const all = new Set(secrets);
  const fromEnv = process.env[API_KEY_VARIABLE];
  if (fromEnv !== undefined && fromEnv.trim() !== '') all.add(fromEnv);
  // Longest first, so that a key containing another is replaced whole.
  return [...all].sort((a, b) => b.length - a.length);
}

// A Bearer token, an Authorization/api-key header value and an api_key=... query parameter, whatever the key is.
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi;
const HEADER = /\b((?:authorization|x-api-key|api-key)["']?\s*[:=]\s*["']?)(?!Bearer\b)[^\s"',;&]+/gi;
const URL_KEY = /([?&](?:api[_-]?key|key|token|access_token)=)[^&#\s"']+/gi;
const TOKEN_RUN = /[A-Za-z0-9._~+/=-]+/g;

/**
 * The text with every known API key (whole, or a fragment of at least 8 characters cut off by a length limit), every
 * Bearer token, Authorization header value and `api_key=` URL parameter replaced by [redacted].
 */
export function redactSecrets(text: string): string {
  let result = text;
  for (const secret of knownSecrets()) {
    if (result.includes(secret)) result = result.split(secret).join(REDACTED);
  }
  const fragmentable = knownSecrets().filter((secret) => secret.length >= MIN_FRAGMENT);
  if (fragmentable.length > 0) {
    result = result.replace(TOKEN_RUN, (run) => (run.length >= MIN_FRAGMENT && fragmentable.some((secret) => secret.includes(run)) ? REDACTED : run));
  }
  return result
    .replace(BEARER, (_match, prefix: string) => `${prefix}${REDACTED}`)
    .replace(HEADER, (_match, prefix: string) => `${prefix}${REDACTED}`)
    .replace(URL_KEY, (_match, prefix: string) => `${prefix}${REDACTED}`);
}

/**
 * The environment for a child process: `base` (default: this process's) without CWM_API_KEY and without any variable
 * holding a known key (e.g. the one named by --api-key-env), plus `extra`.
 */
export function childEnvironment(extra: Record<string, string> = {}, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const keys = knownSecrets();
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(base)) {
    if (value === undefined || name === API_KEY_VARIABLE) continue;
    if (keys.some((secret) => value.includes(secret))) continue;
    env[name] = value;
  }
  return { ...env, ...extra };
}
