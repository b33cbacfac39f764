// Loads dist/extension-heavy.js on first use, so activation reads only what the editor needs at once (settings,
// registrations, the language client) and not the HTTP stack, the tokenizer or the debug adapter.

import { join } from 'node:path';

export type HeavyModules = typeof import('./heavy');

let loaded: HeavyModules | undefined;

export function heavy(): HeavyModules {
  // A computed path, so esbuild leaves the require alone instead of inlining the bundle into extension.js.
  loaded ??= require(join(__dirname, 'extension-heavy.js')) as HeavyModules;
  return loaded;
}
