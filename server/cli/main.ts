// cwm-debug command-line tool (placeholder until the trace command lands).
process.stdout.write('cwm-debug: not built yet\n');
