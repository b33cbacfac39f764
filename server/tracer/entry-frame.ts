// Turns a user's argument list into the entry function's first call frame, without running the user's program
// (server/tracer/entry_frame.py only parses it), so a prediction can start from given inputs.

import { spawn } from 'node:child_process';
import { childEnvironment } from '../endpoint/redact';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { splitSourceLines } from '../cwm/lines';
import type { TraceFrame } from '../trace/model';

const EntryFrameAnswer = z.union([
  z.object({ ok: z.literal(true), line: z.number().int().positive(), locals: z.array(z.tuple([z.string(), z.string()])) }),
  z.object({ ok: z.literal(false), message: z.string() }),
]);

/** The arguments could not be turned into a call frame; the message says why in words. */
export class EntryFrameError extends Error {}

function helperScript(): string {
  const candidates = [join(__dirname, 'tracer', 'entry_frame.py'), join(__dirname, 'entry_frame.py'), join(__dirname, '..', '..', 'server', 'tracer', 'entry_frame.py')];
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw new EntryFrameError(`The bundled entry_frame.py is missing (looked in ${candidates.join(', ')}); reinstall the extension.`);
  return found;
}

export async function buildEntryCallFrame(options: {
  source: string;
  functionName: string;
  args: string;
  python?: string;
  maxReprLength?: number;
}): Promise<TraceFrame> {
  const python = options.python ?? 'python3';
  // The API key never reaches a child process.
  const child = spawn(python, [helperScript()], { stdio: ['pipe', 'pipe', 'pipe'], env: childEnvironment() });
  const chunks: Buffer[] = [];
  const errors: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => errors.push(chunk));
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'ENOENT'
        ? new EntryFrameError(`Python not found: "${python}". Set the Python path (--python or the cwmDebug.pythonPath setting).`)
        : error));
    child.once('close', () => resolve());
  });
  child.stdin.end(JSON.stringify({ source: options.source, function: options.functionName, args: options.args, maxRepr: options.maxReprLength ?? 2000 }));
  await exited;
  let answer: z.infer<typeof EntryFrameAnswer>;
  try {
    answer = EntryFrameAnswer.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
  } catch {
    throw new EntryFrameError(`Could not read the arguments with ${python}: ${Buffer.concat(errors).toString('utf8').trim().split('\n').pop() ?? 'no answer'}`);
  }
  if (!answer.ok) throw new EntryFrameError(answer.message);
  const lines = splitSourceLines(options.source);
  return {
    index: 0,
    event: 'call',
    line: answer.line,
    sourceLine: lines[answer.line - 1] ?? '',
    scope: 1,
    functionName: options.functionName.split('.').pop() ?? options.functionName,
    depth: 0,
    locals: new Map(answer.locals),
  };
}
