// The extension's heavy parts, bundled apart as dist/extension-heavy.js and loaded on first use (extension/lazy.ts):
// the debug adapter, the endpoint clients and tokenizer, and the evaluation harness.

export { CwmDebugSession } from '../server/adapter/session';
export { checkEndpoints } from '../server/endpoint/health';
export { connectModel } from '../server/engine/connect-model';
export { evaluationModelOf, runEvaluation } from '../server/eval/run';
export { searchInputs, summarizeSearch } from '../server/engine/inverse';
