# The floor the tracer is measured against on Python 3.12+: sys.monitoring call/line/return events, locals diffed by
# identity (repr only of an object not seen there before), tokens written in batches. A yardstick, not a product.
import importlib.util
import os
import sys


def main():
    path, entry, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
    spec = importlib.util.spec_from_file_location('workload', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    target = module.__file__
    mon = sys.monitoring
    events = mon.events
    tool = 3
    mon.use_tool_id(tool, 'floor')
    getframe = sys._getframe
    disable = mon.DISABLE
    out = []
    push = out.append
    extend = out.extend
    frames = {}
    missing = object()

    def flush():
        os.write(1, ('\n'.join(map(str, out)) + '\n').encode('utf-8', 'backslashreplace'))
        del out[:]

    def start(code, offset):
        if code.co_filename != target:
            return disable
        mon.set_local_events(tool, code, events.LINE | events.PY_RETURN)
        frame = getframe(1)
        seen = dict(frame.f_locals)
        frames[frame] = seen
        push('c%d,%s' % (frame.f_lineno, code.co_name))
        for name, value in seen.items():
            extend((':' + name, repr(value)))

    def line(code, number):
        frame = getframe(1)
        seen = frames.get(frame)
        if seen is None:
            return
        push(number)
        for name, value in frame.f_locals.items():
            if seen.get(name, missing) is not value:
                seen[name] = value
                extend((':' + name, repr(value)))
        if len(out) > 65536:
            flush()

    def returned(code, offset, value):
        frame = getframe(1)
        if frames.pop(frame, None) is not None:
            extend((-frame.f_lineno, repr(value)))

    mon.register_callback(tool, events.PY_START, start)
    mon.register_callback(tool, events.LINE, line)
    mon.register_callback(tool, events.PY_RETURN, returned)
    mon.set_events(tool, events.PY_START)
    try:
        getattr(module, entry)(arg)
    finally:
        mon.set_events(tool, 0)
    flush()


main()
