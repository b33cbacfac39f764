// The help texts of cwm-debug: one overview and one page per command, every line within 80 columns.

import { DEFAULT_TRACER_LIMITS } from '../tracer/runner';

export const EXIT_CODES = `Exit codes:
  0  done (also when the traced program raised an exception)
  1  could not run: a file, Python, entry or model problem (one sentence
     on stderr)
  2  bad command line (unknown option, bad value)
  3  stopped by a limit (--max-events, --timeout, --max-output,
     --max-memory), or the traced process ended abnormally
  4  compare found a divergence
  5  inputs found no input that reaches the target
  130  interrupted (Ctrl-C)
`;

const ENTRY_OPTIONS = `Entry (which code is traced):
  (nothing)          the def whose line carries "# << START_OF_TRACE"; if
                     it needs arguments, the script runs and its first
                     call is traced; nothing marked: the whole script
  --entry NAME       call this function (or Class.method) instead
  --args "1, [2]"    its arguments, as in a Python call (also for the
                     marked function)
  --script           trace the whole file as a script
  -- ARG...          what follows -- is the program's sys.argv[1:]
`;

const TRACER_OPTIONS = `Tracer options:
  --python PATH      Python 3.8+ interpreter (default: $CWM_DEBUG_PYTHON,
                     else python3)
  --include PATH     also trace this file or folder of your project
                     (repeatable)
  --max-events N     stop after N events (default ${DEFAULT_TRACER_LIMITS.maxEvents})
  --timeout SECONDS  stop after this much wall time (default ${DEFAULT_TRACER_LIMITS.timeoutMs / 1000})
  --max-repr N       cut values longer than N characters (default ${DEFAULT_TRACER_LIMITS.maxReprLength})
  --max-output BYTES stop once the program printed this much
                     (default ${DEFAULT_TRACER_LIMITS.maxOutputBytes})
  --max-memory MB    stop once the program uses more data memory than
                     this, per process (default ${DEFAULT_TRACER_LIMITS.maxMemoryMb}, half of RAM; 0: none)
  --cwd DIR          run the program in this folder (default: the current
                     one, as \`python prog.py\` would)
`;

export const MODEL_OPTIONS = `Model options:
  --endpoint URL       a CWM endpoint (repeatable: rollouts are spread over
                       them); default $CWM_ENDPOINT (comma-separated)
  --backend KIND       fgserve, vllm, mlx, openai or auto (default: auto)
  --tokenizer PATH     the checkpoint's tokenizer.model (not needed for
                       vLLM, which tokenizes); default $CWM_TOKENIZER
  --model NAME         model name to request (vLLM, MLX, OpenAI); default:
                       detected from /v1/models
  --api-key-env VAR    read a Bearer token from this variable (default
                       CWM_API_KEY)
  --temperature T      sampling temperature (default 0: the likeliest
                       trace; fgserve gets a near-greedy 0.01)
  --sample-temperature T
                       temperature of several samples and restarts
                       (--samples, eval --samples; default 0.6)
  --seed S             sampling seed (default none)
  --context-tokens N   tokens the endpoint's context holds where the server
                       cannot say (fgserve, MLX-LM; default 131072); vLLM's
                       --max-model-len is read from the server
  --request-timeout S  give up on a request after S seconds (default 600)
`;

const OUTPUT_OPTIONS = (formats: string) => `Output:
  --format FORMAT    ${formats}
  --no-color         plain text even on a terminal (also NO_COLOR=1)
  -h, --help         this help
The table fits $COLUMNS, else the terminal's width, else 120 columns.
`;

export const OVERVIEW = `Usage: cwm-debug COMMAND FILE.py [options]

Commands:
  trace    run FILE.py under the bundled tracer and print its real trace
  predict  ask a CWM endpoint for the predicted trace, running nothing
  compare  the real trace and the predicted one side by side, with the
           first divergence
  eval     score a model on a corpus of programs; writes a report
  query    ask a recording: where a value was set, when a line ran, calls
  inputs   find arguments that reach a line (or a return value), each
           proposed by the model and checked by a real run

Run \`cwm-debug COMMAND --help\` for a command's options.
  -h, --help     this help
  --version      the version of cwm-debug

${EXIT_CODES}`;

export const TRACE_HELP = `Usage: cwm-debug trace FILE.py [options] [-- ARG...]

Runs FILE.py under the bundled tracer and prints its real execution trace,
as it runs: each step's event, line, source and the locals that changed.

${ENTRY_OPTIONS}
${TRACER_OPTIONS}
${OUTPUT_OPTIONS('table (default); cwm: the exact text CWM is trained\n                     on; json: frames with resolved locals')}  --no-objects       json: leave out "objects", the attributes of the
                     program's objects held by locals (recorded for json
                     only; the CWM text never holds them)
${EXIT_CODES}`;

export const PREDICT_HELP = `Usage: cwm-debug predict FILE.py [options]

Asks a CWM endpoint to predict the trace of FILE.py; nothing is run.
Frames print as they arrive.

${ENTRY_OPTIONS.replace(/  -- ARG\.\.\..*\n/, '')}
${MODEL_OPTIONS}  --samples N          N independent rollouts (1 to 64) and how much they
                       agree
  --python PATH        accepted as for trace, but unused: predict runs none
                       of your code (--args is read in TypeScript; python3
                       only parses the program for the impossible-step checks)

${OUTPUT_OPTIONS('table (default), cwm or json')}
${EXIT_CODES}`;

export const COMPARE_HELP = `Usage: cwm-debug compare FILE.py [options] [-- ARG...]

Records the real trace of FILE.py, predicts the same execution with a CWM
endpoint, and shows both side by side with the first divergence. When no
model can be used, it still prints the real trace, then says why.

${ENTRY_OPTIONS}
${TRACER_OPTIONS}
${MODEL_OPTIONS}
${OUTPUT_OPTIONS('table (default) or json (both traces, the alignment\n                     and the scores)')}
${EXIT_CODES}`;

export const INPUTS_HELP = `Usage: cwm-debug inputs FILE.py --reach LINE [--where EXPR] [options]
       cwm-debug inputs FILE.py --returns VALUE | --raises EXCEPTION

Finds arguments of the entry function that reach a target: the model
invents the call in many rollouts, each stopped at the target; every
proposal whose prediction gets there is run for real (with the tracer's
limits), and only a real run that reaches the target counts as found.

Target (one of):
  --reach LINE       a line of FILE.py
  --where EXPR       ... where this Python expression on the locals there
                     is true, e.g. --where "total > 100"
  --returns VALUE    the entry returns this value, e.g. --returns "'abc'"
  --raises NAME      the entry raises this exception, e.g. ValueError

Search:
  --entry NAME       the function whose arguments are searched (default:
                     the def marked "# << START_OF_TRACE")
  --samples N        rollouts per round (1 to 1000; default 16)
  --rounds R         rounds at most (1 to 20; default 3); rounds after the
                     first steer: near misses' arguments edited toward
                     the target, continued by the model
  --steering KIND    edit (default) or none (plain sampling every round)
  --concurrency N    rollouts in flight (default: 4, or 2 per endpoint)
  --time-budget S    stop the search after S seconds
  --max-tokens N     stop after the model generated N tokens in all
  --no-verify        run nothing: print the model's proposals, unverified

${TRACER_OPTIONS.replace('Tracer options:', 'Tracer options (for each real run):')
    .replace(`(default ${DEFAULT_TRACER_LIMITS.maxEvents})`, '(default 20000)').replace(`(default ${DEFAULT_TRACER_LIMITS.timeoutMs / 1000})`, '(default 10)')}
${MODEL_OPTIONS.replace(/  --temperature T[\s\S]*?(?=  --seed)/, '  --sample-temperature T\n                       temperature of the rollouts (default 0.8;\n                       --temperature above 0 is taken too)\n')}
${OUTPUT_OPTIONS('table (default) or json (every proposal and the counts)')}
${EXIT_CODES}`;
