// Checks configured CWM endpoints for the status bar and "Check endpoint": loads the tokenizer, connects each endpoint
// (detecting its kind and model) and says in words what is wrong and what to do. Nothing is generated.

import type { TokenCodec } from '../cwm/codec';
import { loadTokenizer, TokenizerError } from '../cwm/tokenizer';
import { connectRemoteTokenizer, TokenizerRequiredError } from './remote-tokenizer';
import { connectEndpoint } from './connect';
import { EndpointError } from './errors';
import { endpointTransportProblem } from './policy';
import type { BackendKind } from './types';

export interface HealthSettings {
  readonly endpoints: readonly string[];
  readonly backend: BackendKind | 'auto';
  readonly tokenizerPath?: string;
  readonly apiKey?: string;
  readonly model?: string;
  readonly allowInsecureHttp: boolean;
  /** Per endpoint; a health check should answer within seconds, not the minutes a rollout may take. */
  readonly timeoutMs: number;
}

export interface EndpointHealth {
  readonly url: string;
  readonly ok: boolean;
  readonly kind?: BackendKind;
  readonly model?: string;
  readonly streams?: boolean;
  /** Tokens the served context holds, when the server says (vLLM's --max-model-len). */
  readonly contextTokens?: number;
  /** What is wrong and what to do, when not ok. */
  readonly problem?: string;
  readonly warnings: readonly string[];
}

export type HealthState = 'ok' | 'not-configured' | 'tokenizer' | 'down' | 'partial';

export interface HealthReport {
  readonly state: HealthState;
  /** One line for a status bar tooltip or a message. */
  readonly summary: string;
  readonly endpoints: readonly EndpointHealth[];
  readonly tokenizerProblem?: string;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export async function checkEndpoints(settings: HealthSettings, signal?: AbortSignal): Promise<HealthReport> {
  if (settings.endpoints.length === 0) {
    return {
      state: 'not-configured',
      summary: 'No CWM endpoint is configured: set cwmDebug.endpoints to the URL of a CWM server (fgserve, vLLM, MLX-LM or OpenAI-compatible).',
      endpoints: [],
    };
  }
  let codec: TokenCodec & { dispose(): void };
  if (!settings.tokenizerPath) {
    // No tokenizer file: a vLLM endpoint tokenizes for the client (remote-tokenizer.ts); the others need the file.
    try {
      codec = await connectRemoteTokenizer({
        url: settings.endpoints[0]!,
        backend: settings.backend,
        ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
        ...(settings.model !== undefined ? { model: settings.model } : {}),
        timeouts: { connectMs: settings.timeoutMs, totalMs: settings.timeoutMs },
        retries: { max: 0 },
      }, 'vscode');
    } catch (error) {
      if (error instanceof TokenizerRequiredError) return { state: 'tokenizer', summary: error.message, tokenizerProblem: 'not configured', endpoints: [] };
      const problem = error instanceof EndpointError ? error.message : messageOf(error);
      return { state: 'down', summary: problem, endpoints: [{ url: settings.endpoints[0]!, ok: false, problem, warnings: [] }] };
    }
  } else {
    try {
      codec = await loadTokenizer(settings.tokenizerPath);
    } catch (error) {
      const problem = error instanceof TokenizerError ? error.message : `The tokenizer ${settings.tokenizerPath} cannot be loaded: ${messageOf(error)}`;
      return { state: 'tokenizer', summary: problem, tokenizerProblem: problem, endpoints: [] };
    }
  }
  try {
    const endpoints = await Promise.all(settings.endpoints.map(async (url): Promise<EndpointHealth> => {
      const refused = endpointTransportProblem(url, settings.allowInsecureHttp);
      if (refused !== undefined) return { url, ok: false, problem: refused, warnings: [] };
      if (signal?.aborted) return { url, ok: false, problem: 'The check was cancelled.', warnings: [] };
      try {
        const client = await connectEndpoint({
          url,
          backend: settings.backend,
          apiKey: settings.apiKey,
          model: settings.model,
          timeouts: { connectMs: settings.timeoutMs, totalMs: settings.timeoutMs },
          retries: { max: 0 },
        }, codec);
        const health: EndpointHealth = {
          url, ok: true, kind: client.kind, streams: client.streams, warnings: [...client.warnings],
          ...(client.model !== undefined ? { model: client.model } : {}),
          ...(client.contextTokens !== undefined ? { contextTokens: client.contextTokens } : {}),
        };
        await client.close();
        return health;
      } catch (error) {
        return { url, ok: false, problem: error instanceof EndpointError ? error.message : messageOf(error), warnings: [] };
      }
    }));
    const up = endpoints.filter((endpoint) => endpoint.ok);
    const state: HealthState = up.length === endpoints.length ? 'ok' : up.length === 0 ? 'down' : 'partial';
    const describe = (endpoint: EndpointHealth): string =>
      `${endpoint.model ?? 'CWM'} on ${endpoint.kind} at ${endpoint.url}${endpoint.contextTokens !== undefined ? ` (context ${endpoint.contextTokens} tokens)` : ''}`;
    const summary = state === 'ok'
      ? `Ready: ${up.map(describe).join('; ')}.`
      : state === 'partial'
        ? `${up.length} of ${endpoints.length} endpoints answer. ${endpoints.find((endpoint) => !endpoint.ok)!.problem}`
        : endpoints[0]!.problem ?? 'The endpoint does not answer.';
    return { state, summary, endpoints };
  } finally {
    codec.dispose();
  }
}
