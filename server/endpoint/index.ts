// Entry point of the CWM endpoint clients: import from here, not from the backend files.
// connectEndpoint detects and checks a server; EndpointPool spreads rollouts over several.
export { connectEndpoint, createEndpointClient, classifyModelList } from './connect';
export { EndpointError, type EndpointErrorKind } from './errors';
export { EndpointPool } from './pool';
export { collectCompletion } from './stream';
export { DEFAULT_RETRIES, DEFAULT_TIMEOUTS, parseRetryAfter, backoffDelay } from './http';
export { OPENAI_FALLBACK_WARNING } from './openai';
export type {
  BackendKind,
  CompletionRequest,
  CompletionResult,
  CompletionStream,
  EndpointClient,
  EndpointConfig,
  EndpointInfo,
  EndpointRetries,
  EndpointTimeouts,
  EndpointTls,
  TokenChunk,
} from './types';
