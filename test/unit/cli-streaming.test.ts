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


describe('streamed trace output', { timeout: 300_000 }, () => {
  test('the Node process does not hold the trace: 640,000 events in every format fit an 80 MB heap', async (t) => {
    // Holding the frames costs several hundred bytes each: 640,000 of them would need well over 80 MB of heap, so a
    // CLI that kept them would die out of memory. Peak RSS under concurrent suites varies with the collector's
    // timing, so the heap limit (not an RSS threshold) is what the test holds; the RSS is reported.
    for (const format of ['json', 'cwm', 'table']) {
      const result = await runCli(['trace', loop, '--format', format, '--max-events', '640000', '--timeout', '300'], {}, ['--max-old-space-size=80', '--require', probe]);
      assert.equal(result.code, 3, `${format}: ${result.stderr.slice(-2000)}`);
      const kb = Number(/peak-rss-kb=(\d+)/.exec(result.stderr)?.[1]);
      t.diagnostic(`${format}: peak RSS ${(kb / 1024).toFixed(0)} MB for 640,000 events`);
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
