# Runs one benchmark workload untraced, for the peers that trace a whole script (plain CPython, python -m trace,
# coverage run): run_workload.py WORKLOADS_FILE ENTRY SIZE.
import importlib.util
import sys

spec = importlib.util.spec_from_file_location('workload', sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
getattr(module, sys.argv[2])(int(sys.argv[3]))
