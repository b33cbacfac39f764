// Turns a backend's token generator into a CompletionStream: one iteration, a `result` promise that always
// settles, the client's own token limits applied (server/endpoint/budget.ts), and the HTTP request closed on every way
// out (end, error, timeout, cancellation, consumer breaking off, limits reached).
import { TokenBudget, type BudgetLimits } from './budget';
import { endpointErrors, type EndpointError } from './errors';
import type { HttpTransport, RequestGuard } from './http';
import type { CompletionResult, CompletionStream, TokenChunk, TokenCut } from './types';

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

/** Longest stretch of reading and handling chunks before the event loop gets a turn. */
const TIME_SLICE_MS = 10;

export function createCompletionStream(
  transport: HttpTransport,
  signal: AbortSignal | undefined,
  run: CompletionRun,
  limits: BudgetLimits,
  guardOptions: Parameters<HttpTransport['completionGuard']>[1] = {},
): CompletionStream {
  const { result, resolve, reject } = settler();
  let iterated = false;

  async function* iterate(): AsyncGenerator<TokenChunk, void, undefined> {
    const guard = transport.completionGuard(signal, guardOptions);
    const budget = new TokenBudget(limits);
    guard.budget = budget;
    let inner: AsyncGenerator<TokenChunk, CompletionResult, undefined> | undefined;
    let settled = false;
    let sliceStart = performance.now();
    try {
      guard.throwIfAborted();
      inner = run(guard);
      for (;;) {
        if (performance.now() - sliceStart > TIME_SLICE_MS) {
          // Buffered chunks are handed over in one chain of promises that never returns to the event loop: let it
          // run now and then, so the process can answer other requests (DAP, LSP) while a fast answer is read.
          await new Promise<void>((resolve) => setImmediate(resolve));
          sliceStart = performance.now();
        }
        const step = await inner.next();
        guard.throwIfAborted();
        if (step.done === true) {
          settled = true;
          resolve(withCuts(step.value, budget));
          return;
        }
        const ids = budget.admit(step.value.choice, step.value.ids);
        if (ids.length > 0) {
          guard.tokensArrived(ids.length);
          const logprobs = step.value.logprobs;
          yield ids === step.value.ids ? step.value
            : { choice: step.value.choice, ids, ...(logprobs !== undefined ? { logprobs: logprobs.slice(0, ids.length) } : {}) };
        }
        if (budget.exhausted) {
          // Every choice is cut or stopped: the rest of the answer is not read (the request is closed below).
          settled = true;
          resolve(withCuts({}, budget));
          return;
        }
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

/** The result with 'length' as the finish reason of every choice the client cut, and the tokens it kept. */
function withCuts(result: CompletionResult, budget: TokenBudget): CompletionResult {
  const reasons = [...(result.finishReasons ?? [])];
  const cuts: (TokenCut | undefined)[] = [];
  let kept = 0;
  for (let c = 0; c < budget.limits.choices; c++) {
    kept += budget.tokens(c);
    const cut = budget.cutOf(c);
    cuts[c] = cut;
    if (cut !== undefined) reasons[c] = 'length';
  }
  if (cuts.every((cut) => cut === undefined)) return result;
  return {
    ...result,
    finishReasons: reasons,
    ...(reasons[0] !== undefined ? { finishReason: reasons[0] } : {}),
    completionTokens: kept,
    cuts,
  };
}

/** Reads a whole stream: the ids of every choice and the result. */
export async function collectCompletion(stream: CompletionStream): Promise<{ choices: number[][]; result: CompletionResult }> {
  const choices: number[][] = [];
  for await (const chunk of stream) {
    while (choices.length <= chunk.choice) choices.push([]);
    const ids = choices[chunk.choice];
    // One push per id: spreading a chunk into push() overflows the stack for a long one.
    if (ids !== undefined) for (const id of chunk.ids) ids.push(id);
  }
  return { choices, result: await stream.result };
}
