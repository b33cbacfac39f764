// Turns a backend's token generator into a CompletionStream: one iteration, a `result` promise that always
// settles, and the HTTP request closed on every way out (end, error, timeout, cancellation, consumer breaking off).
import { endpointErrors, type EndpointError } from './errors';
import type { HttpTransport, RequestGuard } from './http';
import type { CompletionResult, CompletionStream, TokenChunk } from './types';

/** A backend's side of a completion: yields chunks as they arrive, returns the result; must close what it opens. */
export type CompletionRun = (guard: RequestGuard) => AsyncGenerator<TokenChunk, CompletionResult, undefined>;

interface Settler {
  result: Promise<CompletionResult>;
  resolve(value: CompletionResult): void;
  reject(err: EndpointError): void;
}

export function settler(): Settler {
  let resolve!: (value: CompletionResult) => void;
  let reject!: (err: EndpointError) => void;
  const result = new Promise<CompletionResult>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers that only iterate never look at `result`; its rejection must not count as unhandled.
  result.catch(() => undefined);
  return { result, resolve, reject };
}

export function createCompletionStream(
  transport: HttpTransport,
  signal: AbortSignal | undefined,
  run: CompletionRun,
  guardOptions: Parameters<HttpTransport['completionGuard']>[1] = {},
): CompletionStream {
  const { result, resolve, reject } = settler();
  let iterated = false;

  async function* iterate(): AsyncGenerator<TokenChunk, void, undefined> {
    const guard = transport.completionGuard(signal, guardOptions);
    let inner: AsyncGenerator<TokenChunk, CompletionResult, undefined> | undefined;
    let settled = false;
    try {
      guard.throwIfAborted();
      inner = run(guard);
      for (;;) {
        const step = await inner.next();
        guard.throwIfAborted();
        if (step.done === true) {
          settled = true;
          resolve(step.value);
          return;
        }
        if (step.value.ids.length === 0) continue;
        guard.tokensArrived(step.value.ids.length);
        yield step.value;
      }
    } catch (err) {
      const failure = guard.failure(err);
      settled = true;
      reject(failure);
      throw failure;
    } finally {
      if (!settled) {
        // The consumer stopped iterating: abort so the socket closes instead of streaming into the void.
        const cancelled = endpointErrors.cancelled(transport.url);
        guard.abort(cancelled);
        reject(cancelled);
      }
      try {
        await inner?.return(undefined as never);
      } catch {
        // Its own cleanup failing changes nothing for the caller: the outcome is already settled.
      }
      guard.dispose();
    }
  }

  return {
    result,
    [Symbol.asyncIterator](): AsyncIterator<TokenChunk> {
      if (iterated) throw new Error('A CompletionStream can be iterated only once.');
      iterated = true;
      return iterate();
    },
  };
}

/** Reads a whole stream: the ids of every choice and the result. */
export async function collectCompletion(stream: CompletionStream): Promise<{ choices: number[][]; result: CompletionResult }> {
  const choices: number[][] = [];
  for await (const chunk of stream) {
    while (choices.length <= chunk.choice) choices.push([]);
    const ids = choices[chunk.choice];
    if (ids !== undefined) ids.push(...chunk.ids);
  }
  return { choices, result: await stream.result };
}
