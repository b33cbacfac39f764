// `cwm-debug trace` writes every format as the trace is recorded (issue 12): the Node process's peak memory does not
// grow with the trace's length, and the streamed JSON and CWM outputs are the same documents the whole-trace writers
// give. The 5,000,000-event run of the must-show is measured by hand (see the report); here a bounded sample.

import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { renderTrace } from '../../server/cwm/writer';
import { traceToJson } from '../../server/trace/json';
import { recordTrace } from '../../server/tracer/runner';
import { runCli } from '../helpers/cli-run';
import { examplesDir } from '../helpers/paths';

const dir = mkdtempSync(join(tmpdir(), 'cwm-cli-stream-'));
const loop = join(dir, 'loop.py');
writeFileSync(loop, 'def run():  # << START_OF_TRACE\n    total = 0\n    for i in range(10**9):\n        total += i\n    return total\n');
// Prints the Node process's own peak RSS (not its children's) when it exits.
const probe = join(dir, 'peak-rss.js');
writeFileSync(probe, "process.on('exit', () => require('fs').writeSync(2, `\\npeak-rss-kb=${process.resourceUsage().maxRSS}\\n`));\n");

async function peakRssMb(format: string, events: number): Promise<number> {
  const result = await runCli(['trace', loop, '--format', format, '--max-events', String(events), '--timeout', '300'], {}, ['--require', probe]);
  assert.equal(result.code, 3, result.stderr);
  const kb = Number(/peak-rss-kb=(\d+)/.exec(result.stderr)?.[1]);
  assert.ok(kb > 0, result.stderr);
  return kb / 1024;
}

describe('streamed trace output', { timeout: 300_000 }, () => {
  test('peak memory of the Node process does not grow with the number of events', async () => {
    // Holding the frames costs several hundred bytes each: 300,000 more frames would add well over 60 MB.
    const small = await peakRssMb('json', 20_000);
    for (const format of ['json', 'cwm', 'table']) {
      const large = await peakRssMb(format, 320_000);
      assert.ok(large - small < 60, `${format}: ${large.toFixed(0)} MB for 320,000 events against ${small.toFixed(0)} MB for 20,000`);
    }
  });

  test('the streamed JSON and CWM are the documents the whole-trace writers give', async () => {
    const file = join(examplesDir, 'inventory.py');
    const trace = await recordTrace({ file });
    const json = await runCli(['trace', file, '--format', 'json']);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), JSON.parse(JSON.stringify(traceToJson(trace))));
    const cwm = await runCli(['trace', file, '--format', 'cwm']);
    assert.equal(cwm.stdout, `${renderTrace(trace)}\n`);
  });
});
