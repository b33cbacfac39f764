// Standalone entry of the CWM debug adapter: speaks the Debug Adapter Protocol over stdin/stdout (bundled to
// dist/adapter.js). Nothing else may write to stdout here: it carries the protocol.
import { DebugSession } from '@vscode/debugadapter';
import { CwmDebugSession } from './session';

DebugSession.run(CwmDebugSession);
