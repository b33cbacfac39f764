// Public API of corpus evaluation (`cwm-debug eval`, "CWM: Evaluate Folder"): run, report, compare.

export { CorpusError, loadCorpus, selectItems, type Corpus, type CorpusItem } from './corpus';
export { compareRuns, type RunComparison } from './compare-runs';
export { evaluateItem, traceItem, type ItemSettings } from './evaluate-item';
export { computeTotals, percent, type RunTotals, type Score } from './metrics';
export { formatDuration, formatProgressBar, type EvaluationProgress } from './progress';
export { HTML_FILE, SUMMARY_FILE, renderHtmlReport, renderSummary, writeReport } from './report';
export { RESULTS_FILE, ResultsError, loadResults, type ItemRecord, type LoadedResults, type RunHeader } from './results';
export { EvaluationSetupError, evaluationModelOf, runEvaluation, toolVersion, type EvaluationModel, type EvaluationOptions, type EvaluationOutcome } from './run';
export { VALUE_TYPES, valueTypeOf, type ValueType } from './value-types';
