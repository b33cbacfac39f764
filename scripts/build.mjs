// Bundles the extension, the server side (CLI, tracer runner) and the test suites with esbuild.
// dist/ is what ships; out/test/ holds the compiled tests and benchmark, never shipped.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, readdirSync, statSync, chmodSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const production = process.argv.includes('--production');

function listTests(dir) {
  const found = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...listTests(path));
    else if (/\.(test|bench)\.ts$/.test(name) || name === 'bench.ts') found.push(path);
  }
  return found;
}

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

// No wipe first: several builds may share the tree, and CI starts from a clean clone anyway.
mkdirSync(join(root, 'dist'), { recursive: true });

await Promise.all([
  esbuild.build({
    ...common,
    entryPoints: { extension: join(root, 'extension/extension.ts'), 'extension-heavy': join(root, 'extension/heavy.ts') },
    outdir: join(root, 'dist'),
    external: ['vscode'],
  }),
  esbuild.build({
    ...common,
    entryPoints: {
      cli: join(root, 'server/cli/main.ts'),
      adapter: join(root, 'server/adapter/main.ts'),
      languageServer: join(root, 'server/lsp/main.ts'),
    },
    outdir: join(root, 'dist'),
    banner: { js: '#!/usr/bin/env node' },
  }),
  esbuild.build({
    ...common,
    // Tests and the benchmark are never shipped: readable stack traces matter more than size, even in a --production build.
    sourcemap: true,
    minify: false,
    entryPoints: listTests(join(root, 'test')),
    outdir: join(root, 'out/test'),
    outbase: join(root, 'test'),
    // Tests run from out/test but reach the shipped files (tracer, dist) through paths relative to the repo root.
    external: ['vscode'],
  }),
]);

// The tracer's Python scripts are run by path, so they ship next to the bundles.
for (const script of ['cwm_tracer.py', 'flow_facts.py']) cpSync(join(root, 'server/tracer', script), join(root, 'dist/tracer', script));
// tiktoken's WASM is read at run time from next to the bundle (server/cwm/tokenizer.ts): a packaged extension has no node_modules.
cpSync(join(root, 'node_modules/tiktoken/lite/tiktoken_bg.wasm'), join(root, 'dist/tiktoken_bg.wasm'));
chmodSync(join(root, 'dist/cli.js'), 0o755);
