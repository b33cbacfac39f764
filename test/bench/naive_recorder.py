# The baseline recorder the benchmark measures the tracer against: PySnooper-style, sys.settrace with the repr of
# every local on every line and json.dumps per event, written straight to stdout. Deliberately simple, not a product.
import importlib.util
import json
import os
import sys


def main():
    path, entry, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
    target = os.path.realpath(path)
    spec = importlib.util.spec_from_file_location("workload", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = sys.stdout
    dumps = json.dumps

    def tracer(frame, event, value):
        if frame.f_code.co_filename != target:
            return None
        record = {
            "event": event,
            "line": frame.f_lineno,
            "function": frame.f_code.co_name,
            "locals": {name: repr(v) for name, v in frame.f_locals.items()},
        }
        if event in ("return", "exception"):
            record["value"] = repr(value)
        out.write(dumps(record) + "\n")
        return tracer

    sys.settrace(tracer)
    try:
        getattr(module, entry)(arg)
    finally:
        sys.settrace(None)
    out.flush()


main()
