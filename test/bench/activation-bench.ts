// Benchmark of the extension's activation: loading dist/extension.js and running activate() in a fresh Node process
// against a stand-in `vscode` module, against a one-command "hello" extension loaded the same way in the same run.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths';
import { median } from './stats';

// The stand-in answers every API call with a do-nothing object, so activation runs its real code path (registrations,
// settings reads, the status check, the language client's start) without an editor. `then` is absent so nothing awaits it.
const HARNESS = String.raw`
const Module = require('node:module');
const { performance } = require('node:perf_hooks');
function stub() {
  const target = function () {};
  return new Proxy(target, {
    get(_t, key) {
      if (key === 'then') return undefined;
      if (key === Symbol.toPrimitive) return () => '';
      if (key === 'get') return () => undefined;
      if (key === 'isTrusted') return true;
      if (key === 'dispose') return () => {};
      return stub();
    },
    set() { return true; },
    defineProperty() { return true; },
    apply() { return stub(); },
    construct() { return stub(); },
  });
}
// esbuild copies a CommonJS module's own keys into its ESM wrapper, so the top level must list the API names the bundle uses.
const names = new Set(['version', 'window', 'workspace', 'commands', 'debug', 'languages', 'extensions', 'env', 'Uri', 'EventEmitter', 'Disposable']);
const source = require('node:fs').readFileSync(process.argv[2], 'utf8');
for (const match of source.matchAll(/\b(?:\w*vscode\w*|code)\.([A-Za-z_]\w*)/g)) names.add(match[1]);
const vscode = new Proxy({}, {
  get(_t, key) {
    if (key === 'version') return '1.100.3';
    return key === 'then' || key === '__esModule' ? undefined : stub();
  },
  ownKeys() { return [...names]; },
  getOwnPropertyDescriptor(_t, key) { return names.has(key) ? { configurable: true, enumerable: true, value: stub() } : undefined; },
});
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  return request === 'vscode' ? 'vscode' : resolve.call(this, request, ...rest);
};
require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: vscode };
const started = performance.now();
const context = { subscriptions: [], secrets: stub(), asAbsolutePath: (p) => require('node:path').join(process.argv[3], p),
  extensionPath: process.argv[3], globalState: stub(), workspaceState: stub(), extensionUri: stub() };
const extension = require(process.argv[2]);
const loaded = performance.now();
extension.activate(context);
const activated = performance.now();
process.stdout.write(JSON.stringify({ load: loaded - started, activate: activated - loaded }));
process.exit(0);
`;

const HELLO = `const vscode = require('vscode');
exports.activate = (context) => { context.subscriptions.push(vscode.commands.registerCommand('hello.world', () => {})); };`;


function measure(harness: string, extension: string, runs: number): { load: number; activate: number; total: number } {
  const samples: { load: number; activate: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const result = spawnSync(process.execPath, [harness, extension, repoRoot], { encoding: 'utf8', timeout: 60_000 });
    if (result.status !== 0) throw new Error(`activation harness failed for ${extension}: ${result.stderr}`);
    samples.push(JSON.parse(result.stdout) as { load: number; activate: number });
  }
  const load = median(samples.map((s) => s.load));
  const activate = median(samples.map((s) => s.activate));
  return { load, activate, total: median(samples.map((s) => s.load + s.activate)) };
}

export function benchActivation(runs = 7): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-activation-'));
  const harness = join(dir, 'harness.js');
  const hello = join(dir, 'hello.js');
  writeFileSync(harness, HARNESS);
  writeFileSync(hello, HELLO);
  const bundle = join(repoRoot, 'dist', 'extension.js');
  const baseline = measure(harness, hello, runs);
  const ours = measure(harness, bundle, runs);
  const size = statSync(bundle).size / 1024;
  return [
    `extension activation (fresh Node process, stand-in vscode API, median of ${runs}; dist/extension.js ${size.toFixed(0)} KB):`,
    `  load ${ours.load.toFixed(1)} ms + activate() ${ours.activate.toFixed(1)} ms = ${ours.total.toFixed(1)} ms`,
    `  one-command hello extension, same harness: ${baseline.total.toFixed(2)} ms · ratio ${(ours.total / baseline.total).toFixed(1)}x`,
  ];
}
