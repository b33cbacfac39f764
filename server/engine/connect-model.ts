// Connecting to a CWM model, shared by the CLI, the debug adapter, the language server and the extension's evaluation:
// the tokenizer (the checkpoint's tokenizer.model, or a vLLM endpoint's own /tokenize) and a pool of endpoint clients.

import type { TokenCodec } from '../cwm/codec';
import { loadTokenizer } from '../cwm/tokenizer';
import { connectEndpoint } from '../endpoint/connect';
import { EndpointPool } from '../endpoint/pool';
import {
  connectRemoteTokenizer,
  tokenizerRequiredMessage,
  TokenizerRequiredError,
  type SettingTerms,
} from '../endpoint/remote-tokenizer';
import type { BackendKind, EndpointClient } from '../endpoint/types';

export type { SettingTerms } from '../endpoint/remote-tokenizer';

export interface ModelSettings {
  readonly endpoints: readonly string[];
  readonly backend: BackendKind | 'auto';
  /** The checkpoint's tokenizer.model; may be left out when every endpoint is vLLM (it tokenizes for the client). */
  readonly tokenizerPath?: string;
  readonly apiKey?: string;
  readonly model?: string;
  readonly samples: number;
  readonly temperature: number;
  /** Temperature of several samples and restarts (default 0.6). */
  readonly sampleTemperature?: number;
  readonly seed?: number;
  readonly contextTokens?: number;
  readonly requestTimeoutMs: number;
}

/** A setting that is missing or wrong; the message names it in the front end's terms. */
export class ModelOptionError extends Error {
  constructor(message: string, readonly setting?: 'endpoints' | 'tokenizer') {
    super(message);
  }
}

export const NO_ENDPOINT_MESSAGE =
  'No CWM endpoint is configured. Pass --endpoint URL (and --tokenizer PATH, the checkpoint\'s tokenizer.model, unless the ' +
  'endpoint is vLLM), or set CWM_ENDPOINT and CWM_TOKENIZER; see "Connecting a model" in the README.';

const NO_ENDPOINT_MESSAGE_VSCODE =
  'No CWM endpoint is configured: set cwmDebug.endpoints to your CWM server (and cwmDebug.tokenizerPath to the ' +
  'checkpoint\'s tokenizer.model unless the server is vLLM); see "Connecting a model" in the README.';

export interface ConnectedModel {
  readonly codec: TokenCodec;
  readonly pool: EndpointPool;
  readonly clients: readonly EndpointClient[];
  /** Where tokens come from: the tokenizer file, or the vLLM endpoint that tokenizes for the client. */
  readonly tokenizer: { readonly kind: 'file'; readonly path: string } | { readonly kind: 'endpoint'; readonly url: string };
  close(): Promise<void>;
}

export interface ConnectModelOptions {
  /** How messages name settings: CLI flags (default) or VS Code settings. */
  readonly terms?: SettingTerms;
}

/**
 * Loads the tokenizer (or, with no tokenizer file, uses the first endpoint's, which must be vLLM) and connects every
 * endpoint, detecting its kind. Throws ModelOptionError, TokenizerError or EndpointError, each in words.
 */
export async function connectModel(settings: ModelSettings, options: ConnectModelOptions = {}): Promise<ConnectedModel> {
  const terms = options.terms ?? 'cli';
  if (settings.endpoints.length === 0) {
    throw new ModelOptionError(terms === 'cli' ? NO_ENDPOINT_MESSAGE : NO_ENDPOINT_MESSAGE_VSCODE, 'endpoints');
  }
  const endpointConfig = (url: string) => ({
    url,
    backend: settings.backend,
    ...(settings.apiKey !== undefined ? { apiKey: settings.apiKey } : {}),
    ...(settings.model !== undefined ? { model: settings.model } : {}),
    // The first-token deadline follows the request timeout (180 s of the default 600 s), so raising one raises both.
    timeouts: { totalMs: settings.requestTimeoutMs, firstTokenMs: Math.round(settings.requestTimeoutMs * 0.3) },
    ...(settings.contextTokens !== undefined ? { contextTokens: settings.contextTokens } : {}),
  });
  let codec: TokenCodec;
  let release: () => Promise<void>;
  let tokenizer: ConnectedModel['tokenizer'];
  if (settings.tokenizerPath) {
    const local = await loadTokenizer(settings.tokenizerPath);
    codec = local;
    release = async () => local.dispose();
    tokenizer = { kind: 'file', path: settings.tokenizerPath };
  } else {
    let remote;
    try {
      remote = await connectRemoteTokenizer(endpointConfig(settings.endpoints[0]!), terms);
    } catch (error) {
      if (error instanceof TokenizerRequiredError) throw new ModelOptionError(error.message, 'tokenizer');
      throw error;
    }
    codec = remote;
    release = () => remote.close();
    tokenizer = { kind: 'endpoint', url: remote.url };
  }
  const clients: EndpointClient[] = [];
  try {
    for (const url of settings.endpoints) {
      const client = await connectEndpoint(endpointConfig(url), codec);
      clients.push(client);
      if (tokenizer.kind === 'endpoint' && client.kind !== 'vllm') {
        throw new ModelOptionError(tokenizerRequiredMessage(client.url, `it is ${client.kind}, which has no /tokenize route`, terms), 'tokenizer');
      }
    }
  } catch (error) {
    await Promise.all(clients.map((client) => client.close()));
    await release();
    throw error;
  }
  return {
    codec,
    pool: new EndpointPool(clients),
    clients,
    tokenizer,
    async close() {
      await Promise.all(clients.map((client) => client.close()));
      await release();
    },
  };
}
