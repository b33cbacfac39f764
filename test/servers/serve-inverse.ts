// Serves the inverse-execution test endpoint for the reachability set (tests and README numbers only, never shipped):
// each case's scripted proposals from cases.json, the test tokenizer, the eval command to run; serves until Ctrl-C.
// Run: npx esbuild test/servers/serve-inverse.ts --bundle --platform=node --outfile=out/test/servers/serve-inverse.js &&
//      node out/test/servers/serve-inverse.js test/fixtures/reachability

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadTokenizer } from '../../server/cwm/tokenizer';
import { writeTestTokenizer } from '../helpers/tokenizer-fixture';
import { createInverseModel, type ScriptedProposal } from './inverse-model';
import { startProtocolServer } from './protocol-server';

interface CaseSpec { file: string; reach: number; scripted: string[]; claims?: string[] }

async function main(): Promise<void> {
  const dir = resolve(process.argv[2] ?? 'test/fixtures/reachability');
  const tokenizerPath = await writeTestTokenizer(mkdtempSync(join(tmpdir(), 'cwm-serve-inverse-')));
  const codec = await loadTokenizer(tokenizerPath);
  const inverse = createInverseModel(codec);
  const cases = (JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: CaseSpec[] }).cases;
  for (const c of cases) {
    const script: ScriptedProposal[] = [
      ...c.scripted.map((args): ScriptedProposal => ({ kind: 'real', args })),
      ...(c.claims ?? []).map((args): ScriptedProposal => ({ kind: 'claim', args, line: c.reach })),
    ];
    await inverse.prepare({ file: join(dir, c.file), script });
  }
  const server = await startProtocolServer({ protocol: 'vllm', codec, model: inverse.model });
  process.stdout.write(`endpoint ${server.url}\ntokenizer ${tokenizerPath}\n` +
    `run: node dist/cli.js eval --inverse ${dir} --endpoint ${server.url} --tokenizer ${tokenizerPath}\n`);
  const stop = async () => {
    await server.close();
    codec.dispose();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`serve-inverse failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
