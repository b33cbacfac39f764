// Spreads independent rollouts over several CWM endpoints: each completion goes to the least busy client
// (ties in turn), and moves to another one when its endpoint cannot be reached before any token arrived.
import { EndpointError, endpointErrors } from './errors';
import { settler } from './stream';
import type { CompletionRequest, CompletionStream, EndpointClient, TokenChunk } from './types';
import { minOf } from '../trace/arrays';

/** Errors that say nothing was sent to the model yet, so another endpoint can take the request. */
const FAILOVER_KINDS = new Set(['refused', 'dns']);

export class EndpointPool {
  readonly clients: readonly EndpointClient[];
  /** A pool streams only if every endpoint in it does. */
  get streams(): boolean {
    return this.clients.every((client) => client.streams);
  }
  /** The smallest context of the pool's endpoints, when any says: a rollout may go to any of them. */
  get contextTokens(): number | undefined {
    const known = this.clients.map((client) => client.contextTokens).filter((n): n is number => n !== undefined);
    return known.length > 0 ? minOf(known) : undefined;
  }
  private readonly busy = new Map<EndpointClient, number>();
  private turn = 0;

  constructor(clients: EndpointClient[]) {
    if (clients.length === 0) throw new Error('An EndpointPool needs at least one endpoint client.');
    this.clients = [...clients];
    for (const client of clients) this.busy.set(client, 0);
  }

  /** Completions running on `client` through this pool. */
  inFlight(client: EndpointClient): number {
    return this.busy.get(client) ?? 0;
  }

  /** The least busy client not in `exclude`; among equals, the next in turn. */
  pick(exclude: ReadonlySet<EndpointClient> = new Set()): EndpointClient {
    let best: EndpointClient | undefined;
    let bestIndex = 0;
    for (let k = 0; k < this.clients.length; k++) {
      const index = (this.turn + k) % this.clients.length;
      const client = this.clients[index];
      if (client === undefined || exclude.has(client)) continue;
      if (best === undefined || this.inFlight(client) < this.inFlight(best)) {
        best = client;
        bestIndex = index;
      }
    }
    if (best === undefined) throw new Error('Every endpoint of the pool was excluded.');
    this.turn = (bestIndex + 1) % this.clients.length;
    return best;
  }

  complete(request: CompletionRequest): CompletionStream {
    const { result, resolve, reject } = settler();
    let iterated = false;
    const pool = this;

    async function* iterate(): AsyncGenerator<TokenChunk, void, undefined> {
      const tried = new Set<EndpointClient>();
      let settled = false;
      let client: EndpointClient | undefined;
      try {
        for (;;) {
          client = pool.pick(tried);
          tried.add(client);
          pool.busy.set(client, pool.inFlight(client) + 1);
          let yielded = false;
          try {
            const stream = client.complete(request);
            for await (const chunk of stream) {
              yielded = true;
              yield chunk;
            }
            settled = true;
            resolve(await stream.result);
            return;
          } catch (err) {
            const canMove = !yielded && err instanceof EndpointError && FAILOVER_KINDS.has(err.kind) && tried.size < pool.clients.length;
            if (!canMove) throw err;
          } finally {
            pool.busy.set(client, Math.max(0, pool.inFlight(client) - 1));
          }
        }
      } catch (err) {
        settled = true;
        reject(err instanceof EndpointError ? err : new EndpointError('protocol', String(err), { cause: err }));
        throw err;
      } finally {
        if (!settled) reject(endpointErrors.cancelled(client?.url ?? 'the pool'));
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

  async close(): Promise<void> {
    await Promise.all(this.clients.map((client) => client.close()));
  }
}
