// The model endpoint for the end-to-end suite: the loopback vLLM-protocol server from test/servers/, run in the test
// process, whose model replays the real trace of each prepared program (with injectable corruptions), and its tokenizer.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTokenizer, type CwmTokenizer } from '../../../server/cwm/tokenizer';
import type { Trace } from '../../../server/trace/model';
import type { TraceRequest } from '../../../server/tracer/runner';
import { writeTestTokenizer } from '../../helpers/tokenizer-fixture';
import { startProtocolServer, type ProtocolServer } from '../../servers/protocol-server';
import { createReplayModel, type Corruption, type ReplayModel } from '../../servers/replay-model';
import { createInverseModel, type InverseProgram } from '../../servers/inverse-model';

export interface ReplayEndpointOptions {
  /** Programs the model can answer about (the same file, entry and args the launch configuration names). */
  readonly programs: readonly TraceRequest[];
  readonly corruptions?: readonly Corruption[];
  /** Programs for "Find Inputs That Reach This Line": their prompts go to the scripted inverse model instead. */
  readonly inverse?: readonly InverseProgram[];
}

export interface ReplayEndpoint {
  /** Base URL for launch.json's "endpoints". */
  readonly url: string;
  /** The tokenizer.model file for launch.json's "tokenizer". */
  readonly tokenizerPath: string;
  /** The real traces of `programs`, in order: what the Actual side will show. */
  readonly traces: readonly Trace[];
  readonly replay: ReplayModel;
  readonly server: ProtocolServer;
  /** Prompts answered so far. */
  readonly answered: number;
  close(): Promise<void>;
}

export async function startReplayEndpoint(options: ReplayEndpointOptions): Promise<ReplayEndpoint> {
  const dir = mkdtempSync(join(tmpdir(), 'cwm-e2e-endpoint-'));
  let codec: CwmTokenizer | undefined;
  try {
    const tokenizerPath = await writeTestTokenizer(dir);
    codec = await loadTokenizer(tokenizerPath);
    const replay = createReplayModel({ codec, corruptions: options.corruptions });
    const traces: Trace[] = [];
    for (const program of options.programs) traces.push(await replay.prepare(program));
    const inverse = createInverseModel(codec);
    for (const program of options.inverse ?? []) await inverse.prepare(program);
    const server = await startProtocolServer({
      protocol: 'vllm', codec, model: (ids, params) => (inverse.knows(ids) ? inverse.model(ids, params) : replay.model(ids, params)),
    });
    const opened = codec;
    return {
      url: server.url,
      tokenizerPath,
      traces,
      replay,
      server,
      get answered() {
        return replay.answered;
      },
      close: async () => {
        await server.close();
        opened.dispose();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    codec?.dispose();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
