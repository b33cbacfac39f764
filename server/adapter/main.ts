// Standalone entry of the CWM debug adapter: speaks the Debug Adapter Protocol over stdin/stdout (bundled to
// dist/adapter.js). Nothing else may write to stdout here: it carries the protocol.
// Malformed client messages are answered with an error and the session carries on; whatever ends this process, the
// tracer and the traced program go with it (server/tracer/runner.ts stops them on exit).
import { PassThrough } from 'node:stream';
import { OutputEvent, Response } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { DapInputReader } from './dap-input';
import { CwmDebugSession } from './session';

const session = new CwmDebugSession();
// The session reads nothing itself: it gets only the messages the reader found well formed.
const unused = new PassThrough();
session.start(unused, process.stdout);

const reader = new DapInputReader({
  onMessage: (message) => {
    try {
      session.handleMessage(message as unknown as DebugProtocol.ProtocolMessage);
    } catch (error) {
      if (message.type !== 'request') return;
      const text = error instanceof Error ? error.message : String(error);
      session.sendResponse(new Response(message as DebugProtocol.Request, `The debug adapter failed on the ${message.command} request (${text}); it carries on, so try again.`));
    }
  },
  onMalformed: ({ problem, seq, command }) => {
    const request = { seq, command, type: 'request' } as DebugProtocol.Request;
    session.sendResponse(new Response(request, `The debug adapter received ${problem}; it ignored that message and carries on. The debugging client sent something that is not the Debug Adapter Protocol.`));
  },
});
process.stdin.on('data', (chunk: Buffer) => reader.push(chunk));
// The client went away: the session ends (and with it the tracer).
process.stdin.on('close', () => unused.destroy());
process.on('SIGTERM', () => session.shutdown());

// A bug in one request must not end the session silently: say it in the debug console and carry on.
const report = (what: string, error: unknown): void => {
  const text = error instanceof Error ? error.message : String(error);
  try {
    session.sendEvent(new OutputEvent(`CWM debug adapter: ${what} (${text}); the session carries on.\n`, 'stderr'));
  } catch {
    // stdout is gone: nothing to tell.
  }
};
process.on('uncaughtException', (error) => report('an internal error', error));
process.on('unhandledRejection', (error) => report('an internal error in a request', error));
