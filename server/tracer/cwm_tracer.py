# CWM tracer: runs one Python program under sys.monitoring (3.12+) or sys.settrace and streams its execution trace to stdout.
# Standard library only, Python 3.8 to 3.13; server/tracer/protocol.ts reads what it writes.
#
# Usage: cwm_tracer.py [--entry NAME [--args EXPR]] [--script] [--include PATH]... [--max-events N]
#                      [--timeout SECONDS] [--max-repr N] [--max-output BYTES] [--hook auto|settrace|monitoring]
#                      [--objects] FILE
#
# Wire format: one token per line (UTF-8). The hot path only appends ready-made strings to a buffer, which is
# written in batches; so most events cost one list append and most values none at all.
#   12              line event at line 12 in the current scope (see below)
#   -12             return event at line 12 in the current scope; the next line is the value
#   c12,1,name      call event of a new scope: line, depth, function name; then its locals as pairs, in order.
#                   New scopes are numbered 1, 2, 3... in the order of their call events.
#   C12,1,2,name    the same for a scope whose code is in another traced file: line, depth, file id, function name
#   g12,3,1,name    call event resuming scope 3 (a generator): line, scope id, depth, name; then all its locals
#   l12,3           line event in scope 3 (which becomes current)
#   r12,3           return event in scope 3; the next line is the value
#   x12,3           exception event in scope 3 (which becomes current); the next line is the value
#   :name           a local whose repr changed (or all locals after a call); the next line is its repr
#   .a.b            only with --objects: attribute b of the object in local a changed; the next line is its repr
#   !a.b            only with --objects: attribute b of the object in local a is no longer there (see object state)
#   {...}           JSON record, one of:
#                   {"t": "start", "python": sys.version, "pid", "file"}        first, written at once
#                   {"t": "begin", "entry": {"kind": "function", "name", "line", "args"?} | {"kind": "script"}}
#                   {"t": "keys", "names": [...]}   full local-name order of the last event, when it changed
#                   {"t": "file", "id", "path", "source"}   another traced file, before the first C event naming its id
#                   {"t": "out", "stream": 0 (stdout) | 1 (stderr), "text", "outside": not printed during a step}
#                   {"t": "note", "text"}
#                   {"t": "end", "events": N, "end": {"kind": "returned" | "raised" | "exited" | "limit" | "error", ...}}
#                   events: how many events the stream holds (the reader checks it; nothing is ever dropped unsaid)
# A value line holding a newline, or starting with \x01, is written as \x01 followed by a JSON string.
# The current scope: a call event pushes it on a stack and makes the called scope current; a return event pops
# it back; an explicit line or exception event makes its scope current.
# Exactly one "end" record ends the stream.

import sys

if sys.version_info < (3, 8):
    sys.stdout.write('{"t": "end", "end": {"kind": "error", "reason": "tracer-failed", "message": '
                     '"The tracer needs Python 3.8 or newer; this is Python %d.%d. Choose another interpreter."}}\n'
                     % sys.version_info[:2])
    sys.stdout.flush()
    sys.exit(0)

import _thread
import builtins
import io
import json
import opcode
import os
import re
import threading
import time
import types
from operator import is_ as _is_

_T0 = time.monotonic()
TRUNCATION_MARKER = '\u2026<truncated>'
_ADDR_SUB = re.compile(r' at 0x[0-9a-fA-F]+').sub
_M = object()  # "no cached object": never identical to a program value

# Values whose repr cannot change while the object lives (so an identical object needs no new repr).
_STABLE = {int, float, bool, type(None), str, bytes, complex, range, type(Ellipsis), type(NotImplemented)}
for _it in (iter([]), iter(()), iter(''), iter('\u00e9'), iter(range(0)), iter(range(2 ** 70)), iter({}),
            iter({}.values()), iter({}.items()), iter(set()), iter(b''), iter(bytearray()), reversed([]),
            reversed(range(0)), enumerate(()), zip(), map(id, ()), filter(None, ())):
    _STABLE.add(type(_it))
_STABLE = frozenset(_STABLE)
_STABLE_ISSUPERSET = _STABLE.issuperset
_FUNCTION = types.FunctionType

_YIELD_VALUE = opcode.opmap['YIELD_VALUE']
_YIELD_FROM = opcode.opmap.get('YIELD_FROM', -1)
_RESUME = opcode.opmap.get('RESUME', -1)
_PY313 = sys.version_info >= (3, 13)
_GENERATOR_FLAGS = 0x20 | 0x80 | 0x200  # CO_GENERATOR | CO_COROUTINE | CO_ASYNC_GENERATOR
_CO_OPTIMIZED = 0x1
_K_NONOPT, _K_MODULE, _K_GENERATOR, _K_UNBIND = 1, 2, 4, 8  # the kind of a traced code (see _code_info)
# Opcodes that can unbind a fast local; frames whose code has none can only gain locals.
_UNBIND_OPS = frozenset(opcode.opmap[name] for name in ('DELETE_FAST', 'DELETE_DEREF', 'LOAD_FAST_AND_CLEAR')
                        if name in opcode.opmap)

# ---------------------------------------------------------------- options and limits (set by _parse_options)
_LIM = 2000
_BIGI = 10 ** 1999
_NBIGI = -_BIGI
_MAXEV = 100000
_TIMEOUT = 30.0
_MAXOUT = 1000000

# ---------------------------------------------------------------- output stream (tokens, batches)
_real_exit = os._exit
_real_settrace = sys.settrace
_out_fd = 1
_buf = []
_push = _plain_push = _buf.append
_extend = _plain_extend = _buf.extend  # one call, so a pair cannot be split by another thread's output
_io_lock = _thread.allocate_lock()
_end_lock = _thread.allocate_lock()
_enc = json.JSONEncoder(ensure_ascii=True, check_circular=False, skipkeys=True).encode


class _Event(str):
    """Tokens of events have their own types, so events are counted in C at flush time: every other token is an exact
    str, which is why text the program controls goes through _exact before it becomes one."""
    __slots__ = ()


class _Ln(_Event):
    """Token of a line event in the current scope."""
    __slots__ = ()


class _Rn(_Event):
    """Token of a return event in the current scope."""
    __slots__ = ()


class _Ev(_Event):
    """Header token of a call / explicit line / explicit return / exception event."""
    __slots__ = ()


def _exact(text):
    """The same text as an exact str: a str subclass (which a program's __repr__ or a dict key may be) would be
    counted as an event at flush time, and its methods are the program's. Runs no code of the program's."""
    return text if type(text) is str else str.__str__(text)


if sys.version_info < (3, 9):
    # One C pass over the tokens. type() is slow to call on 3.8 (it goes through type_new and type_init), the
    # isinstance check of the event base class is not; from 3.9 on, it is the other way round.
    _is_event = _Event.__instancecheck__

    def _count_events(chunk):
        return len(chunk) - list(map(_is_event, chunk)).count(False)
else:
    def _count_events(chunk):
        return len(chunk) - list(map(type, chunk)).count(str)


_LTOK = []
_RTOK = []


def _grow_line_tokens(upto):
    for i in range(len(_LTOK), upto + 1):
        _LTOK.append(_Ln(i))
        _RTOK.append(_Rn(-i))


def _line_token(line):
    if line >= len(_LTOK):
        _grow_line_tokens(line + 64)
    return _LTOK[line]


def _return_token(line):
    if line >= len(_RTOK):
        _grow_line_tokens(line + 64)
    return _RTOK[line]


_written_events = 0
_dropping = False  # after the event limit cut the stream, everything later is dropped


def _cut_before_event(chunk, k):
    """Index of the (k+1)-th event token of chunk: chunk[:index] holds k events and what belongs to them."""
    seen = 0
    for index, token in enumerate(chunk):
        t = type(token)
        if t is _Ln or t is _Rn or t is _Ev:
            if seen == k:
                return index
            seen += 1
    return len(chunk)


def _escape_token(token):
    if '\n' in token or token[:1] == '\x01':
        return '\x01' + json.dumps(str(token))
    return token


def _flush(timeout=-1):
    """Writes the buffered tokens. Events are counted here, which keeps the hot path free of a counter; returns
    True when the event limit was reached (what came after it is dropped). The lock is held while writing, so
    chunks and the end record keep their order; only the writer thread and _finish ever take it."""
    global _written_events, _dropping
    if not _io_lock.acquire(True, timeout):
        return False
    try:
        n = len(_buf)
        if not n:
            return _dropping
        # Slice then delete: both are single operations under the GIL, so tokens pushed meanwhile survive.
        chunk = _buf[:n]
        del _buf[:n]
        _signal(_room)  # a program thread waiting for room may go on while this chunk is written
        if _dropping:
            return True
        events = _count_events(chunk)
        limited = _written_events + events > _MAXEV
        if limited:
            chunk = chunk[:_cut_before_event(chunk, _MAXEV - _written_events)]
            events = _MAXEV - _written_events
            _dropping = True
            if not chunk:
                return True
        text = '\n'.join(chunk)
        if text.count('\n') != len(chunk) - 1 or '\x01' in text:
            text = '\n'.join(map(_escape_token, chunk))
        _write_all((text + '\n').encode('utf-8', 'backslashreplace'))
        # Counted once written: the end record states exactly what the reader was given.
        _written_events += events
        return limited
    finally:
        _io_lock.release()


# Backpressure: the buffer holds at most about _BUF_HIGH tokens. The hot path appends without any check; when
# the watchdog sees the buffer past the mark it swaps _push/_extend for gated versions, which make the program
# wait (on its own thread) until the writer has taken the buffer, and swap the plain ones back. A reader that
# falls behind thus slows the program down instead of losing events or growing memory.
_BUF_HIGH = 1 << 16
_BUF_KICK = 1 << 13  # past this many tokens the watchdog wakes the writer before its next tick
_wake = _thread.allocate_lock()  # released to wake the writer
_wake.acquire()
_room = _thread.allocate_lock()  # released by the writer when it took the buffer
_room.acquire()
_finishing = False


def _signal(lock):
    try:
        lock.release()
    except RuntimeError:  # already released: the waiter has not come round yet
        pass


def _gated_push(token):
    _buf.append(token)
    if len(_buf) > _BUF_HIGH:
        _wait_for_room()


def _gated_extend(tokens):
    _buf.extend(tokens)
    if len(_buf) > _BUF_HIGH:
        _wait_for_room()


def _open_gate():
    global _push, _extend
    _push = _plain_push
    _extend = _plain_extend


def _close_gate():
    global _push, _extend
    _push = _gated_push
    _extend = _gated_extend


def _wait_for_room():
    """The reader is behind: waits until the writer has taken the buffer. Once the run is ending the caller waits
    for good (the process ends with the trace), so nothing grows meanwhile."""
    while len(_buf) > _BUF_HIGH:
        if _finishing:
            while True:
                time.sleep(1)
        _signal(_wake)
        _room.acquire(True, 0.05)
    _open_gate()


def _write_all(data):
    view = memoryview(data)
    while view:
        written = os.write(_out_fd, view)
        view = view[written:]


def _events_limit_end():
    return {'kind': 'limit', 'limit': 'events',
            'message': 'The trace reached the limit of %d events (maxEvents); the program was stopped there.'
                       % _MAXEV}


def _finish(end, code=0):
    """Writes everything buffered and then the end record, and ends the process at once (threads die with it).
    Waits as long as the reader takes: the writer releases the lock after each chunk, so this cannot deadlock."""
    global _finishing
    if not _end_lock.acquire(False):
        # Another thread is already ending the process: wait for it to do so.
        while True:
            time.sleep(1)
    _finishing = True
    try:
        _stop_tracing()
    except BaseException:
        pass
    try:
        if _flush() and end.get('kind') != 'error':
            end = _events_limit_end()
            code = 0
        _io_lock.acquire()
        _write_all((_enc({'t': 'end', 'events': _written_events, 'end': end}) + '\n').encode('ascii'))
    finally:
        _real_exit(code)


def _error(reason, message):
    _finish({'kind': 'error', 'reason': reason, 'message': message})


_notes_seen = set()


def _note(key, text):
    if key not in _notes_seen:
        _notes_seen.add(key)
        _push(_enc({'t': 'note', 'text': text}))


# ---------------------------------------------------------------- bounded, safe repr
_in_repr = [False]  # [True while the tracer runs a repr: output printed meanwhile is dropped] (kept out of globals)


def _cut(text):
    return text[:_LIM] + TRUNCATION_MARKER if len(text) > _LIM else text


def _long_text_repr(v):
    """repr of a str/bytes/bytearray longer than the limit, computed from a prefix so it stays cheap."""
    head = v[:_LIM]
    r = repr(head)
    if type(v) is str:
        sq, dq, start = "'", '"', 0
    else:
        sq, dq, start = b"'", b'"', (1 if type(v) is bytes else 11)
    # CPython quotes with " only when the text holds ' and no "; the prefix may decide otherwise.
    full_dq = sq in v and dq not in v
    head_dq = sq in head and dq not in head
    if full_dq != head_dq:
        body = r[start + 1:]
        if full_dq:
            r = r[:start] + '"' + body
        else:
            r = r[:start] + "'" + body.replace("'", "\\'")
    return _cut(r)


_OPEN_CLOSE = {list: ('[', ']'), tuple: ('(', ')'), set: ('{', '}'), frozenset: ('frozenset({', '})')}
try:
    import collections as _collections
    _DEQUE = _collections.deque
except Exception:  # pragma: no cover - collections is always there
    _DEQUE = None
from itertools import chain as _chain, count as _count, islice as _islice


def _long_container_repr(v, path):
    """repr of a builtin container surely longer than the limit, stopped at the limit: built by C from a prefix when
    its items allow (_c_prefix_repr), else item by item."""
    t = type(v)
    if id(v) in path:
        return '{...}' if t is dict else '[...]'
    fast = _c_prefix_repr(v, t)
    if fast is not None:
        return fast
    path.add(id(v))
    try:
        if t is dict:
            opening = '{'
        elif t is _DEQUE:
            opening = 'deque(['
        else:
            opening = _OPEN_CLOSE[t][0]
        parts = []
        total = len(opening)
        if t is dict:
            for k, item in v.items():
                s = _inner_repr(k, path) + ': ' + _inner_repr(item, path)
                parts.append(s)
                total += len(s) + 2
                if total > _LIM + 2:  # the joined text is total - 2 long
                    break
        else:
            for item in v:
                s = _inner_repr(item, path)
                parts.append(s)
                total += len(s) + 2
                if total > _LIM + 2:  # the joined text is total - 2 long
                    break
        # Surely longer than the limit (the caller checked), so always cut, even if these parts happen to fit.
        return (opening + ', '.join(parts))[:_LIM] + TRUNCATION_MARKER
    finally:
        path.discard(id(v))


class _LongSnap(tuple):
    """(container, type, its first items[, their values]): a long container as it was when last shown, when the
    items its shown text came from are all atoms (see _long_unchanged)."""
    __slots__ = ()


_shown = [_M]  # [the _LongSnap of the last long container _c_prefix_repr showed], for the line handler to keep
_PLAIN_SCALARS = frozenset((float, bool, type(None), complex))


_C_REPR_ATOMS = frozenset((int, float, bool, type(None), complex, str, bytes))
_C_REPR_CONTAINERS = frozenset((tuple, list, set, frozenset, dict))


def _builtin_contents(containers, depth):
    """True when the items of these builtin containers, and theirs in turn, are builtin values: then C's repr of
    the containers, which is what _inner_repr takes for small ones, runs no code of the program's."""
    if depth > 8:  # e.g. a list that holds itself
        return False
    contents = list(_chain(*containers))
    values = list(_chain(*map(dict.values, [c for c in containers if type(c) is dict])))
    if values:
        contents += values
    kinds = set(map(type, contents))
    if kinds <= _C_REPR_ATOMS:
        return True
    if not kinds <= _C_REPR_ATOMS | _C_REPR_CONTAINERS:
        return False
    return _builtin_contents([x for x in contents if type(x) in _C_REPR_CONTAINERS], depth + 1)


def _plain_items(items):
    """Truthy when C's repr of every item is what _inner_repr gives it, cannot raise, and costs little: atoms (ints
    below the big-int bound, str/bytes within the limit) and small builtin containers of builtin values (whose text
    _inner_repr takes from C anyway). 2 when all are atoms (their reprs cannot change, see _STABLE), 1 when some
    are containers, 0 when C may not build the text."""
    kinds = set(map(type, items))
    if kinds <= _PLAIN_SCALARS:
        return 2
    one = len(kinds) == 1
    atoms = 2
    for t in kinds:
        if t in _PLAIN_SCALARS:
            continue
        same = items if one else [x for x in items if type(x) is t]
        if t is int:
            if not (_NBIGI < min(same) and max(same) < _BIGI):
                return 0
        elif t is str or t is bytes:
            if max(map(len, same)) > _LIM:
                return 0
        elif t in _C_REPR_CONTAINERS:
            if max(map(len, same)) * (6 if t is dict else 3) > _LIM or not _builtin_contents(same, 1):
                return 0
            atoms = 1
        else:
            return 0
    return atoms


def _c_prefix_repr(v, t):
    """The bounded repr of a long list/tuple/set/frozenset/deque/dict built by C from a prefix of it: the same text
    the item-by-item path gives (the text of a prefix is a prefix of the text), or None when an item could differ
    (see _plain_items). Sets _shown when the items shown are atoms."""
    n = len(v)
    if t is dict:
        opening = '{'
        keys_iter = iter(v)
        values_iter = iter(v.values())
    else:
        opening = '[' if t is list else 'deque([' if t is _DEQUE else _OPEN_CLOSE[t][0]
        items_iter = None if t is list or t is tuple else iter(v)
    pieces = [opening]
    size = len(opening) - 2  # each piece but the first adds its length and a ', '
    shown = []
    shown_values = []
    atoms = 2
    k = 0
    step = 32  # a probe; then as many items as the limit needs at the length per item so far, and a margin
    while size < _LIM and k < n:
        if t is dict:
            keys = list(_islice(keys_iter, step))
            values = list(_islice(values_iter, step))
            plain = min(_plain_items(keys), _plain_items(values))
            if not plain:
                return None
            atoms = min(atoms, plain)
            try:
                body = repr(dict(zip(keys, values)))[1:-1]
            except Exception:  # e.g. a nested int too long to convert: the item-by-item path tells what to show
                return None
            shown += keys
            shown_values += values
            k += len(keys)
        else:
            chunk = v[k:k + step] if items_iter is None else list(_islice(items_iter, step))
            plain = _plain_items(chunk)
            if not plain:
                return None
            atoms = min(atoms, plain)
            try:
                body = repr(chunk if type(chunk) is list else list(chunk))[1:-1]
            except Exception:
                return None
            shown += chunk
            k += len(chunk)
        if ' at 0x' in body:
            body = _ADDR_SUB('', body)
        pieces.append(body)
        size += len(body) + 2
        step = min(2 * k, int((_LIM - size) * k / (size + 2) * 1.05) + 8)
    text = ', '.join(pieces[1:])
    if atoms == 2:
        _shown[0] = _LongSnap((v, t, tuple(shown), tuple(shown_values)) if t is dict else (v, t, tuple(shown)))
    return (opening + text)[:_LIM] + TRUNCATION_MARKER


def _long_unchanged(value, t, snap):
    """True when a long container kept as a _LongSnap shows the same text: still long, and its first items are the
    same objects (atoms, whose repr cannot change), so the prefix its text is cut from is the same."""
    items = snap[2]
    if t is dict:
        return len(value) * 6 > _LIM and len(value) >= len(items) and all(map(_is_, value, items)) \
            and all(map(_is_, value.values(), snap[3]))
    return len(value) * 3 > _LIM and len(value) >= len(items) and all(map(_is_, value, items))


def _inner_repr(v, path):
    t = type(v)
    if (t is list or t is tuple or t is set or t is frozenset or t is _DEQUE) and len(v) * 3 > _LIM:
        return _long_container_repr(v, path)
    if t is dict and len(v) * 6 > _LIM:
        return _long_container_repr(v, path)
    if (t is str or t is bytes or t is bytearray) and len(v) > _LIM:
        return _long_text_repr(v)
    if t is int and (v >= _BIGI or v <= _NBIGI):
        return _big_int_repr(v)
    if t is _FUNCTION:
        return '<function ' + _exact(v.__qualname__) + '>'
    r = repr(v)
    if type(r) is not str:
        r = str.__str__(r)  # a str subclass from the program's __repr__: its own __len__, __contains__... never run
    if ' at 0x' in r:
        r = _ADDR_SUB('', r)
    return _cut(r)


def _big_int_repr(v):
    # Decimal conversion of a huge int is quadratic (and refused past 4300 digits on 3.11+): show its size.
    bits = v.bit_length()
    if bits > 60000:
        return '<int with about %d digits>' % int(bits * 0.30103)
    return _cut(repr(v))


def _srepr(v):
    """Bounded repr with addresses stripped; never raises; output printed meanwhile is discarded."""
    saved = _in_repr[0]
    _in_repr[0] = True
    try:
        return _inner_repr(v, set())
    except BaseException as e:  # the program's __repr__ may raise anything, even SystemExit
        return _repr_failure(v, e)
    finally:
        _in_repr[0] = saved


def _repr_failure(v, e):
    try:
        detail = str(e)
    except BaseException:
        detail = ''
    if isinstance(e, RecursionError):
        detail = 'maximum recursion depth exceeded'
    name = type(e).__name__
    text = '<repr raised %s: %s>' % (name, detail) if detail else '<repr raised %s>' % name
    try:
        tname = type(v).__qualname__
    except BaseException:
        tname = '?'
    _note('repr:' + tname + ':' + name,
          'repr() of a %s value raised %s; such values are shown as <repr raised ...>.' % (tname, name))
    return _cut(_ADDR_SUB('', text))


def _rv(v):
    """Repr of one value (call locals, return values): fast for the common atoms, bounded for everything."""
    t = type(v)
    if t is int:
        if _NBIGI < v < _BIGI:
            return repr(v)
        return _srepr(v)
    if t is str:
        if len(v) <= _LIM:
            r = repr(v)
            return r if len(r) <= _LIM else r[:_LIM] + TRUNCATION_MARKER
        return _srepr(v)
    if t is float or t is bool or v is None:
        return repr(v)
    return _srepr(v)


class _Snap(tuple):
    """(container, its items[, its values]): a small list/set/dict of atoms as it was when last shown."""
    __slots__ = ()


def _snapshot(value, t):
    """A _Snap of a small container whose items are all atoms (whose repr then only changes if an item changes),
    else _M."""
    if t is dict:
        if _STABLE_ISSUPERSET(map(type, value)) and _STABLE_ISSUPERSET(map(type, value.values())):
            return _Snap((value, tuple(value), tuple(value.values())))
    elif _STABLE_ISSUPERSET(map(type, value)):
        return _Snap((value, tuple(value)))
    return _M


def _is_stable(v, t):
    return t in _STABLE or ((t is tuple or t is frozenset) and len(v) < 4096 and _STABLE_ISSUPERSET(map(type, v)))


# ---------------------------------------------------------------- the trace functions
# Per live traced frame, _states maps the frame to
# [depth, scope id, names, name tokens, objs, reps, kind of its code (_K_* bits), live locals or None]:
#   names: the frame's local names as last sent, in order; name tokens: ':' + name for each (both may be shared
#          with other frames of the same code: they are replaced, never changed in place)
#   objs:  per position, the last object when its repr provably cannot change (see _STABLE, _Snap), else _M
#   reps:  per position, the last repr sent
#   live locals: the frame's f_locals object where it is always current when a trace function runs (see below)
# objs and reps are changed in place. Keying by the frame object (not its id) keeps the frame alive, so a new frame
# cannot be mistaken for it; the entry is dropped when the frame returns for good (not at a yield).
_states = {}
_states_get = _states.get
_states_pop = _states.pop
_file_decisions = {}
_fd_get = _file_decisions.get
_code_infos = {}  # id(code) -> see _code_info
_code_infos_get = _code_infos.get
# The trace functions keep what changes per event out of module globals: on 3.8 to 3.10 storing a global invalidates
# the interpreter's cache of every global lookup in the module, which would slow down all the others.
_scope_ids = _count(1)
_next_sid = _scope_ids.__next__  # the next scope id
# The current scope (the one number tokens implicitly refer to; 0: none) is the top of the scope stack. Each call
# event pushes the called scope on it, each return event pops it: after a callee returns, the caller's events are
# compact again. The reader keeps the same stack.
_scope_stack = [0]
_spush = _scope_stack.append
_spop = _scope_stack.pop
# New-scope call headers do not name the scope (the reader numbers new scopes in order), so they can be shared.
_call_headers = {}
_call_headers_get = _call_headers.get
_name_tokens = {}  # name -> ':name'
_name_tokens_get = _name_tokens.get
# Reading frame.f_locals re-syncs it from the fast locals. Before 3.11 CPython syncs the same dict before every
# trace call anyway, and from 3.13 f_locals is a live view: there the object from the call event can be kept and
# read as is. 3.11 and 3.12 only sync on access, so there it is read afresh each time.
_KEEP_LOCALS = sys.version_info < (3, 11) or sys.version_info >= (3, 13)
_target = ''
_includes_files = set()
_includes_dirs = ()
_excluded_dirs = ()


# Traced files other than the program: co_filename -> id, and real path -> id (one id per file however it is named).
_file_ids = {}
_file_ids_get = _file_ids.get
_real_file_ids = {}
_PACKAGE_DIRS = (os.sep + 'site-packages' + os.sep, os.sep + 'dist-packages' + os.sep)
_MAX_OTHER_FILE = 1000000  # bytes: a bigger module is generated or vendored code, not worth its place in the context


def _decide(filename):
    traced = False
    try:
        if not filename.startswith('<'):
            real = os.path.realpath(filename)
            if real == _target:
                traced = True
            elif not any(real.startswith(d) for d in _excluded_dirs) and not any(p in real for p in _PACKAGE_DIRS):
                traced = (real in _includes_files or any(real.startswith(d) for d in _includes_dirs)) \
                    and os.path.isfile(real)
                if traced and os.path.getsize(real) > _MAX_OTHER_FILE:
                    traced = False
                    _note('big:' + real, '%s is larger than %d bytes; its code was not traced (calls into it show up '
                          'in the caller\'s next step).' % (os.path.basename(real), _MAX_OTHER_FILE))
                if traced:
                    _file_ids[filename] = _file_record(filename, real)
    except Exception:
        traced = False
    _file_decisions[filename] = traced
    return traced


def _file_record(filename, real):
    """Id of another traced file; its first use writes a file record with its path and text (before any frame in it)."""
    fid = _real_file_ids.get(real)
    if fid is None:
        fid = _real_file_ids[real] = len(_real_file_ids) + 1
        try:
            with open(real, 'rb') as f:
                data = f.read()
            try:
                text = data.decode('utf-8')
            except UnicodeDecodeError:
                text = data.decode('latin-1')
        except Exception:
            text = ''
        _push(_enc({'t': 'file', 'id': fid, 'path': os.path.abspath(filename), 'source': text}))
    return fid


def _code_info(code):
    """(code, traced, nonoptimized, module, generator, may_unbind, headers, last names, kind) for a code object, cached
    by id (the cached tuple holds the code, so the id cannot be reused). headers: depth -> (line, call header) of its
    new frames; last names: [names, their name tokens] of its last new frame (most calls bind the same names); kind:
    the flags as _K_* bits, 0 for a plain function (what the line handler checks first)."""
    filename = code.co_filename
    traced = _fd_get(filename)
    if traced is None:
        traced = _decide(filename)
    if traced:
        flags = code.co_flags
        nonopt = not (flags & _CO_OPTIMIZED)
        module = code.co_name == '<module>'
        generator = bool(flags & _GENERATOR_FLAGS)
        unbind = not _UNBIND_OPS.isdisjoint(code.co_code[::2])
        kind = (_K_NONOPT if nonopt else 0) | (_K_MODULE if module else 0) | (_K_GENERATOR if generator else 0) \
            | (_K_UNBIND if unbind else 0)
        info = (code, True, nonopt, module, generator, unbind, {}, [None, None], kind)
    else:
        info = (code, False)
    _code_infos[id(code)] = info
    return info


def _internal_error(where):
    try:
        import traceback
        detail = traceback.format_exc(limit=-3).strip().splitlines()[-1]
    except BaseException:
        detail = '?'
    _note('internal:' + where, 'Internal tracer error in %s (%s); the trace may be missing values there.'
          % (where, detail))


def _names_values(frame, module):
    """A non-optimized frame's locals as two lists of the same length; a module scope leaves out __dunder__ names."""
    loc = frame.f_locals
    if module:
        pairs = [(k, v) for k, v in loc.items() if not (type(k) is str and k[:2] == '__' and k[-2:] == '__')]
    else:
        pairs = list(loc.items())
    return [k if type(k) is str else _name_text(k) for k, _ in pairs], [v for _, v in pairs]


def _name_text(key):
    """A local's name that is not an exact str (a key put in a namespace by the program) as an exact str."""
    return _exact(key if issubclass(type(key), str) else str(key))


def _relocals(st, new_names, values):
    """Re-reads locals by name (the key list changed, or a module/class body): pushes the changed pairs and, when
    the key list changed, a keys record; updates the scope's state (objs and reps in place; names and name tokens are
    replaced, never changed in place: frames of one code share them)."""
    names, objs, reps = st[2], st[4], st[5]
    new_names = [n if type(n) is str else _name_text(n) for n in new_names]  # the wire needs exact string names
    old = dict(zip(names, zip(objs, reps)))
    new_objs = []
    new_reps = []
    out = []
    for name, value in zip(new_names, values):
        o = old.get(name)
        if o is not None and o[0] is value:
            r = o[1]
        else:
            r = _rv(value)
            if o is None or o[1] != r:
                out.append(_name_tokens_get(name) or _name_token(name))
                out.append(r)
        new_reps.append(r)
        t = type(value)
        new_objs.append(value if (t in _STABLE or _is_stable(value, t)) else _M)
    if new_names != names:
        out.append(_enc({'t': 'keys', 'names': new_names}))
        st[2] = new_names
        st[3] = [_name_tokens_get(name) or _name_token(name) for name in new_names]
    objs[:] = new_objs
    reps[:] = new_reps
    _extend(out)


def _name_token(name):
    """':name', the token that announces a local's value (kept, so each name has one)."""
    token = _name_tokens[name] = ':' + _exact(name)
    return token


def _name_token_list(names):
    return [_name_tokens_get(name) or _name_token(name) for name in names]


def _call_header(code, line, depth):
    """The token of a call event that starts a new scope (it does not name the scope, so headers can be shared)."""
    fid = _file_ids_get(code.co_filename, 0)
    key = (line, depth, fid, code.co_name)
    header = _call_headers_get(key)
    if header is None:
        header = _call_headers[key] = _Ev('C%d,%d,%d,%s' % key if fid else 'c%d,%d,%s' % (line, depth, key[3]))
    return header


def _local(frame, event, arg):
    """Local trace function of traced frames: line, return and exception events. Kept flat and lean: it runs for
    every line the program executes."""
    try:
        st = _states_get(frame)
        if st is None:
            return None
        if event == 'line':
            _, sid, names, ntoks, objs, reps, kind, loc = st
            line = arg or frame.f_lineno  # sys.monitoring passes the line (settrace passes None)
            if _scope_stack[-1] == sid:
                try:
                    _push(_LTOK[line])  # a line event of the current scope: one ready-made token
                except IndexError:
                    _push(_line_token(line))
            else:
                _scope_stack[-1] = sid
                _push(_Ev('l%d,%d' % (line, sid)))
            if kind:  # not a plain function frame (see _code_info)
                if kind & _K_NONOPT:
                    new_names, values = _names_values(frame, kind & _K_MODULE)
                    _relocals(st, new_names, values)
                    if _objects_on and (_M in objs or frame in _ostates):
                        _object_step(frame, new_names, values)
                    return _local
                if loc is None:
                    loc = frame.f_locals
                if kind & _K_UNBIND and list(loc) != names:
                    _relocals(st, list(loc), list(loc.values()))
                    if _objects_on and (_M in objs or frame in _ostates):
                        _object_step(frame, loc, loc.values())
                    return _local
            elif loc is None:
                loc = frame.f_locals
            if len(loc) != len(names):
                # Locals are only ever added (or the frame may unbind, and the names were compared): an unchanged
                # length means unchanged names and order.
                _relocals(st, list(loc), list(loc.values()))
                if _objects_on and (_M in objs or frame in _ostates):
                    _object_step(frame, loc, loc.values())
                return _local
            i = -1
            for value in loc.values():
                i += 1
                if value is objs[i]:
                    continue  # the same object, and its repr provably cannot have changed
                t = type(value)
                if t is int:
                    if _NBIGI < value < _BIGI:
                        r = repr(value)
                        objs[i] = value
                    else:
                        r = _srepr(value)
                        objs[i] = _M
                elif t is str:
                    if len(value) <= _LIM:
                        r = repr(value)
                        if len(r) > _LIM:
                            r = r[:_LIM] + TRUNCATION_MARKER
                    else:
                        r = _srepr(value)
                    objs[i] = value
                elif t is float or t is bool or value is None:
                    r = repr(value)
                    objs[i] = value
                elif (t is list or t is set or t is dict) and len(value) * 6 <= _LIM:
                    # A small container of atoms whose items are still the same objects has the same repr.
                    o = objs[i]
                    if type(o) is _Snap and o[0] is value:
                        if t is dict:
                            if len(value) == len(o[1]) and all(map(_is_, value, o[1])) \
                                    and all(map(_is_, value.values(), o[2])):
                                continue
                        elif len(value) == len(o[1]) and all(map(_is_, value, o[1])):
                            continue
                    _in_repr[0] = True
                    try:
                        r = repr(value)
                        if ' at 0x' in r:
                            r = _ADDR_SUB('', r)
                        if len(r) > _LIM:
                            r = r[:_LIM] + TRUNCATION_MARKER
                    except BaseException:
                        r = _srepr(value)
                    finally:
                        _in_repr[0] = False
                    objs[i] = _snapshot(value, t)
                else:
                    o = objs[i]
                    if type(o) is _LongSnap and o[0] is value and _long_unchanged(value, t, o):
                        continue  # a long container whose shown prefix is still the same atoms
                    _shown[0] = _M
                    r = _srepr(value)
                    if t in _STABLE or _is_stable(value, t):
                        objs[i] = value
                    elif _shown[0] is not _M and _shown[0][0] is value:
                        objs[i] = _shown[0]
                    else:
                        objs[i] = _M
                if r != reps[i]:
                    reps[i] = r
                    _extend((ntoks[i], r))
            # A recorded object is never a value kept in objs (see _STABLE): a frame whose locals are all kept there
            # holds none, which `in` tells at C speed (objs holds no program object, so no __eq__ of the program runs);
            # a frame that held one until now still needs its step, to say its attributes are gone.
            if _objects_on and (_M in objs or frame in _ostates):
                _object_step(frame, loc, loc.values())
            return _local
        sid = st[1]
        if event == 'return':
            line = frame.f_lineno or 0
            if arg is None:
                r = 'None'
            elif type(arg) is int and _NBIGI < arg < _BIGI:
                r = repr(arg)
            else:
                r = _rv(arg)
            if _spop() == sid and line:  # the returning scope was the current one: the compact token
                try:
                    _extend((_RTOK[line], r))
                except IndexError:
                    _extend((_return_token(line), r))
            else:
                _extend((_Ev('r%d,%d' % (line, sid)), r))
            if not _scope_stack:
                _spush(0)
            if not (st[6] & _K_GENERATOR and _suspended(frame)):
                _states_pop(frame, None)
                if _objects_on:
                    _ostates.pop(frame, None)
                if sid == 1:
                    _end_of_entry()
            return None
        if event == 'exception':
            _scope_stack[-1] = sid
            _extend((_Ev('x%d,%d' % (frame.f_lineno or 0, sid)), _srepr(arg)))
        return _local
    except Exception:
        _internal_error(event)
        return _local


def _local_first(frame, event, arg):
    """Local trace function (settrace) of a new frame until its first event, and the sys.monitoring line handler of
    that event: when it is a line event, the frame's locals are still those its call event read (no code ran since),
    so it needs no diff; the same trace as _local, for less."""
    if event != 'line':
        return _local(frame, event, arg)
    try:
        st = _states_get(frame)
        if st is None:
            return None
        sid = st[1]
        line = arg or frame.f_lineno  # sys.monitoring passes the line (settrace passes None)
        if _scope_stack[-1] == sid:
            try:
                _push(_LTOK[line])
            except IndexError:
                _push(_line_token(line))
        else:
            _scope_stack[-1] = sid
            _push(_Ev('l%d,%d' % (line, sid)))
        return _local
    except Exception:
        _internal_error(event)
        return _local


def _end_of_entry():
    """The entry scope returned: nothing after it belongs to the trace (not even generators it leaves to be
    closed), and what is printed now is outside output."""
    global _inside
    _stop_tracing()
    _inside = False


def _global(frame, event, arg):
    """Global trace function: called for every new frame (and generator resume) in the main thread."""
    try:
        code = frame.f_code
        info = _code_infos_get(id(code))
        if info is None or info[0] is not code:
            info = _code_info(code)
        if not info[1]:
            return None
        # Depth: one more than the nearest traced frame below; untraced frames in between do not count.
        back = frame.f_back
        depth = 0
        while back is not None:
            below = _states_get(back)
            if below is not None:
                depth = below[0] + 1
                break
            back = back.f_back
        # A module's call event reports line 0 on 3.11+ and its first statement before: report 1 on every version.
        line = 1 if info[3] else frame.f_lineno or 0
        st = _states_get(frame) if info[4] else None  # only a generator's frame comes back (a resume)
        if info[2]:
            names, values = _names_values(frame, info[3])
            loc = None
        else:
            loc = frame.f_locals
            names = [*loc]
            values = [*loc.values()]
        if st is None:
            known = info[6].get(depth)
            if known is None or known[0] != line:
                known = info[6][depth] = (line, _call_header(code, line, depth))
            header = known[1]
            # A new frame's names are its code's own (exact str): comparing them runs nothing of the program's.
            last = info[7]
            if names == last[0]:
                ntoks = last[1]
            else:
                ntoks = last[1] = _name_token_list(names)
                last[0] = names
        else:
            header = _Ev('g%d,%d,%d,%s' % (line, st[1], depth, code.co_name))
            ntoks = _name_token_list(names)
        reps = [*values]  # each replaced by its repr below
        # Each kept where its repr cannot change, else replaced by _M below (the values list itself when nothing
        # else reads it: only the object step does).
        objs = [*values] if _objects_on else values
        i = 0
        for value in values:
            t = type(value)
            if t is int and _NBIGI < value < _BIGI:
                reps[i] = repr(value)
            else:
                reps[i] = _rv(value)
                if not (t in _STABLE or _is_stable(value, t)):
                    objs[i] = _M
            i += 1
        if i == 2:  # the common small cases as one tuple: no list to build and fill
            out = (header, ntoks[0], reps[0], ntoks[1], reps[1])
        elif i == 1:
            out = (header, ntoks[0], reps[0])
        elif i == 3:
            out = (header, ntoks[0], reps[0], ntoks[1], reps[1], ntoks[2], reps[2])
        else:
            out = [header] * (i + i + 1)
            out[1::2] = ntoks
            out[2::2] = reps
        if st is None:
            sid = _next_sid()
            _states[frame] = [depth, sid, names, ntoks, objs, reps, info[8], loc if _KEEP_LOCALS else None]
            local = _local_first
        else:
            local = _local
            # A resumed generator: its state gets the locals as they are now.
            st[0] = depth
            sid = st[1]
            st[2] = names
            st[3] = ntoks
            st[4] = objs
            st[5] = reps
        _extend(out)
        if _objects_on:
            _ostates.pop(frame, None)  # a resumed generator's attributes come afresh, as its locals do
            if _M in objs:
                _object_step(frame, names, values)
        _spush(sid)
        return local
    except Exception:
        _internal_error('call')
        return _local if _states_get(frame) is not None else None


def _suspended(frame):
    """True when a generator/coroutine frame's return event is a yield (it may resume and keep its scope)."""
    try:
        code = frame.f_code.co_code
        i = frame.f_lasti
        if _PY313:
            return code[i] == _RESUME and i >= 2 and code[i - 2] == _YIELD_VALUE
        op = code[i]
        return op == _YIELD_VALUE or op == _YIELD_FROM or (i + 2 < len(code) and code[i + 2] == _YIELD_FROM)
    except Exception:
        return True  # keeping the state only costs memory; dropping it could split a scope


# ---------------------------------------------------------------- object state (--objects)
# With --objects, the attributes of user objects held by locals are recorded as well, outside the CWM text: an
# object is recorded when its class is defined in traced code (the program or an included file), whatever its
# __repr__. Its attributes are read from its instance dict and __slots__ through the C descriptors of the class's
# bases, never through getattr (so no property, __getattr__ or __getattribute__ of the program runs); their values
# are shown with the same bounded repr as locals, and a recorded object found among them is opened in turn, to
# _OBJ_DEPTH levels. At most _OBJ_MAX attributes are recorded per step; past that a note says so once.
# Per frame, a tree of caches (local name -> attribute -> [value, repr, snapshot, child cache]) is compared with
# what the objects hold now: an attribute whose value is the same object with a repr that cannot change (see
# _STABLE, _Snap) costs an identity check; the wire only carries the paths whose repr changed:
#   .PATH   an attribute (dotted path from a local, e.g. .self.radius) whose repr changed; the next line is its repr
#   !PATH   an attribute no longer there (deleted, or its object no longer held)
_OBJ_DEPTH = 2
_OBJ_MAX = 100
_objects_on = False
_ostates = {}  # frame -> {local name: node} (see _obj_walk)
_ostates_get = _ostates.get
_obj_layouts = {}  # class -> (dict getter or None, ((name, slot getter), ...)), or None: not recorded
_obj_layouts_get = _obj_layouts.get
# Classes known not to be recorded: a frame whose locals are all of these costs one set check per step.
_not_objects = set(_STABLE) | {list, dict, set, frozenset, tuple, bytearray, type, types.ModuleType, _FUNCTION,
                               types.BuiltinFunctionType, types.MethodType, types.GeneratorType}
# Classes whose repr needs no call to know: atoms (the same object, the same repr), and recorded classes with object's
# own __repr__ (`<shapes.Circle object>` once the address is stripped: the class's). Only for attributes, never locals.
_obj_stable = set(_STABLE)
_GETSET = types.GetSetDescriptorType
_MEMBER = types.MemberDescriptorType
_type_mro = type.__dict__['__mro__'].__get__
_type_dict = type.__dict__['__dict__'].__get__
_type_module = type.__dict__['__module__'].__get__
_object_repr = object.__repr__
_range = range
from itertools import compress as _compress
from operator import ne as _ne


def _traced_source(filename):
    """Whether a file is traced code, decided as _decide does but with no side effect (no file record written)."""
    traced = _fd_get(filename)
    if traced is not None:
        return traced
    try:
        if filename.startswith('<'):
            return False
        real = os.path.realpath(filename)
        if real == _target:
            return True
        if any(real.startswith(d) for d in _excluded_dirs) or any(p in real for p in _PACKAGE_DIRS):
            return False
        return real in _includes_files or any(real.startswith(d) for d in _includes_dirs)
    except Exception:
        return False


def _obj_layout(cls):
    """How to read an instance's own attributes without running the program's code, or None when its class is not
    defined in traced code (cached per class). Reads only the class dicts along the MRO, through type's descriptors."""
    layout = None
    try:
        own = _type_dict(cls)
        filename = None
        for value in own.values():
            if type(value) is _FUNCTION:
                filename = value.__code__.co_filename
                break
        if filename is None:
            module = sys.modules.get(_type_module(cls))
            if type(module) is types.ModuleType:
                filename = module.__dict__.get('__file__')
        if type(filename) is str and _traced_source(filename):
            getter = None
            slots = []
            own_repr = None
            for base in _type_mro(cls):
                found = _type_dict(base)
                if getter is None and type(found.get('__dict__')) is _GETSET:
                    getter = found['__dict__'].__get__
                if own_repr is None and '__repr__' in found:
                    own_repr = found['__repr__']
                for name, value in found.items():
                    if type(value) is _MEMBER and type(name) is str:
                        slots.append((name, value.__get__))
            if getter is not None or slots:
                layout = (getter, tuple(slots))
                if own_repr is _object_repr:
                    _obj_stable.add(cls)
    except Exception:
        layout = None
    _obj_layouts[cls] = layout
    if layout is None:
        _not_objects.add(cls)
    return layout


class _ObjectBudget(Exception):
    pass


_obj_out = []  # the tokens of the step being recorded (one list, emptied per step: no global is stored per step)


def _obj_node():
    """Cache of one object's attributes as last recorded: [names (tuple), ids of their values (tuple), whether every
    value's repr can be known without calling repr (see _obj_walk), {name: entry}, positions of recorded objects
    below, names of small containers kept as snapshots, types of the values (tuple)]
    entry: [the value when an atom else _M, repr, _Snap or _M, nested node or None, path, type of the value]
    No entry holds a program object other than atoms and builtin containers of atoms (as the locals' caches do), so
    recording object state never keeps an object of the program alive (its __del__ and weak references run on time)."""
    return [(), (), False, {}, [], [], ()]


def _obj_walk(prefix, value, layout, node, depth, budget):
    """Compares an object's attributes with its node, pushing what changed, and walks the recorded objects among them;
    returns how many attributes the step may still record (raises _ObjectBudget past the limit). A value's repr is
    known without calling repr when it is the same atom as before (kept alive by its entry, so the same id is the same
    object), a recorded object of object's own repr of the same class as before (its repr is the class's), or a small
    container of atoms whose snapshot still holds."""
    getter, slots = layout
    d = getter(value) if getter is not None else None
    if slots:
        keys = list(d) if type(d) is dict else []
        vals = list(d.values()) if type(d) is dict else []
        for name, get in slots:
            try:
                v = get(value)
            except AttributeError:  # an unset slot
                continue
            keys.append(name)
            vals.append(v)
    elif type(d) is dict:
        keys = d
        vals = d.values()
    else:
        keys = vals = ()
    entries = node[3]
    n = len(keys)
    # The same attribute names, values of the same classes: only atoms that are other objects now need a repr.
    if node[2] and n == len(node[0]) and n <= budget and all(map(_is_, keys, node[0])):
        ids = tuple(map(id, vals))
        if ids == node[1]:
            # The same objects, or others at the same addresses (only atoms are held): the same classes tells.
            quick = all(map(_is_, map(type, vals), node[6]))
        else:
            types_ = tuple(map(type, vals))
            quick = all(map(_is_, types_, node[6]))
            if quick:
                vals_t = tuple(vals)
                for i in _compress(_range(n), map(_ne, ids, node[1])):
                    v = vals_t[i]
                    t = types_[i]
                    entry = entries[node[0][i]]
                    if entry[3] is not None:
                        quick = False
                        break
                    if t in _obj_stable:
                        if t not in _STABLE:
                            continue  # another object of the same class: the same repr
                        r = _rv(v)
                        entry[0] = v
                    elif type(entry[2]) in _SNAP_TYPES and (t is list or t is set or t is dict) and len(v) * 6 <= _LIM:
                        # Another small container where there was one (the loop variable holds the next object).
                        snap = _attr_snapshot(v, t)
                        if snap is _M:
                            quick = False
                            break
                        entry[2] = snap
                        r = _rv(v)
                    else:
                        quick = False
                        break
                    if entry[1] != r:
                        _obj_out.append('.' + entry[4])
                        _obj_out.append(r)
                        entry[1] = r
                node[1] = ids
        if quick and node[5]:
            vals_t = tuple(vals)
            names = node[0]
            for i in node[5]:
                v = vals_t[i]
                snap = entries[names[i]][2]
                if type(snap) is _Snap:  # _snap_unchanged, inline: most objects have a small list or two
                    if snap[0] is not v or len(v) != len(snap[1]) or not all(map(_is_, v, snap[1])) \
                            or (type(v) is dict and not all(map(_is_, v.values(), snap[2]))):
                        quick = False
                        break
                elif not _attr_snap_holds(v, type(v), snap):
                    quick = False
                    break
        if quick:
            budget -= n
            if node[4]:
                vals_t = tuple(vals)
                names = node[0]
                for i in node[4]:
                    v = vals_t[i]
                    e = entries[names[i]]
                    budget = _obj_walk(e[4] + '.', v, _obj_layouts[type(v)], e[3], depth + 1, budget)
            return budget
    cut = n > budget
    if cut:
        keys = list(keys)[:budget]
        vals = list(vals)[:budget]
        budget = 0
    else:
        budget -= n  # counted before the objects below, which share what is left
    out = _obj_out
    stable = True
    nested = []
    snapped = []
    i = -1
    for name, v in zip(keys, vals):
        i += 1
        if type(name) is not str:
            stable = False
            continue
        entry = entries.get(name)
        t = type(v)
        if entry is None:
            path = prefix + name
            r = _rv(v)
            entry = entries[name] = [_M, r, _M, None, path, t]
            out.append('.' + path)
            out.append(r)
        elif (entry[0] is v if t in _STABLE else entry[5] is t) if t in _obj_stable else \
                (type(entry[2]) in _SNAP_TYPES and entry[5] is t and _attr_snap_holds(v, t, entry[2])):
            pass
        else:
            r = _rv(v)
            if entry[1] != r:
                out.append('.' + entry[4])
                out.append(r)
                entry[1] = r
        entry[0] = v if t in _STABLE else _M
        old_type = entry[5]
        entry[5] = t
        if t in _obj_stable:
            entry[2] = _M
        elif (t is list or t is set or t is dict) and len(v) * 6 <= _LIM:
            snap = entry[2]
            if not (type(snap) in _SNAP_TYPES and old_type is t and _attr_snap_holds(v, t, snap)):
                snap = entry[2] = _attr_snapshot(v, t)
            if snap is _M:
                stable = False
            else:
                snapped.append(i)
        else:
            entry[2] = _M
            stable = False
        if depth < _OBJ_DEPTH and t not in _not_objects:
            sub = _obj_layouts_get(t, _M)
            if sub is _M:
                sub = _obj_layout(t)
            if sub is not None:
                if entry[3] is None:
                    entry[3] = _obj_node()
                nested.append(i)
                budget = _obj_walk(entry[4] + '.', v, sub, entry[3], depth + 1, budget)
                continue
        if entry[3] is not None:
            _obj_forget(entry[3])
            entry[3] = None
    if cut:
        raise _ObjectBudget()
    if len(entries) != n:
        current = set(keys)
        for name in [k for k in entries if k not in current]:
            entry = entries.pop(name)
            out.append('!' + entry[4])
            if entry[3] is not None:
                _obj_forget(entry[3])
    node[0] = tuple(keys)
    node[1] = tuple(map(id, vals))
    node[2] = stable
    node[4] = nested
    node[5] = snapped
    node[6] = tuple(map(type, vals))
    return budget


class _TypeSnap(tuple):
    """The classes of a small list's or set's items, all recorded classes of object's own repr: its repr is theirs
    (`[<shapes.Point object>, ...]`), so no item needs to be held to know it."""
    __slots__ = ()


_SNAP_TYPES = frozenset((_Snap, _TypeSnap))


def _attr_snapshot(v, t):
    """A snapshot of a small container attribute: of its atoms (_Snap, holding them as the locals' caches do), or of
    its objects' classes (_TypeSnap); _M when neither."""
    snap = _snapshot(v, t)
    if snap is _M and t is not dict and v:
        kinds = tuple(map(type, v))
        if _obj_stable.issuperset(kinds) and _STABLE.isdisjoint(kinds):
            return _TypeSnap(kinds)
    return snap


def _attr_snap_holds(v, t, snap):
    """Whether a container attribute still shows as its snapshot did (the caller checked its class)."""
    if type(snap) is _Snap:
        return _snap_unchanged(v, t, snap)
    return len(v) == len(snap) and all(map(_is_, map(type, v), snap))


def _snap_unchanged(v, t, snap):
    if snap[0] is not v:
        return False
    if t is dict:
        return len(v) == len(snap[1]) and all(map(_is_, v, snap[1])) and all(map(_is_, v.values(), snap[2]))
    return len(v) == len(snap[1]) and all(map(_is_, v, snap[1]))


def _obj_forget(node):
    """Says that every attribute under a node is gone (its object is no longer held there)."""
    for entry in node[3].values():
        _obj_out.append('!' + entry[4])
        if entry[3] is not None:
            _obj_forget(entry[3])


def _object_step(frame, names, values):
    """Records the attributes of the recorded objects among a frame's locals (after its call or line token)."""
    ost = _ostates_get(frame)
    if ost is None:
        if _not_objects.issuperset(map(type, values)):
            return
        ost = {}
    new = not ost
    out = _obj_out
    del out[:]
    held = 0
    budget = _OBJ_MAX
    try:
        for name, value in zip(names, values):
            t = type(value)
            if t in _not_objects:
                continue
            layout = _obj_layouts_get(t, _M)
            if layout is _M:
                layout = _obj_layout(t)
                if layout is None:
                    continue
            held += 1
            node = ost.get(name)
            if node is None:
                node = ost[name] = _obj_node()
            budget = _obj_walk(name + '.', value, layout, node, 1, budget)
    except _ObjectBudget:
        _note('objects', 'Object state cut at %d attributes per step: the attributes of the objects held by a step\'s '
                         'locals past that many are not recorded (the trace itself is complete).' % _OBJ_MAX)
        held = None
    except Exception:
        _internal_error('object state')
        held = None
    if held is not None and held != len(ost):
        # A local no longer holds a recorded object (rebound, or deleted): its attributes are gone.
        now = set([n for n, v in zip(names, values) if type(v) not in _not_objects])
        for name in [n for n in ost if n not in now]:
            _obj_forget(ost.pop(name))
    if new:
        if ost:
            _ostates[frame] = ost
    elif not ost:
        _ostates.pop(frame, None)
    if out:
        _extend(out)

# ---------------------------------------------------------------- the hook: sys.settrace, or sys.monitoring (3.12+)
# Both hooks drive the same _global/_local above. On 3.12+ sys.settrace is itself built on sys.monitoring
# (CPython's Python/legacy_tracing.c); the callbacks below map the events the way it does, so the two paths see the
# same frames in the same states and write the same bytes. sys.monitoring skips legacy tracing's frame trampolines
# and only instruments the traced code: lines and returns are local events of traced code objects, and code that is
# not traced is disabled at its first start.
def _settrace_start():
    _real_settrace(_global)


def _settrace_stop():
    _real_settrace(None)


_start_tracing = _settrace_start
_stop_tracing = _settrace_stop
_MON_TOOL = 4  # an id without a conventional owner (0 debugger, 1 coverage, 2 profiler, 5 optimizer)
_mon = None
_mon_set_local = None
_DISABLE = None
_getframe = sys._getframe
_main_ident = 0
_get_ident = _thread.get_ident  # taken now: the program may replace _thread.get_ident
_LOCAL_EVENTS = 0
_mon_codes = {}  # id(code) -> code given local events (lines, returns...), cleared when tracing stops
_mon_codes_get = _mon_codes.get
_mon_lines = {}  # id(code) -> (code, {offset: line}) for jump events


def _use_monitoring():
    """Sets the hook to sys.monitoring when this Python has it and the tool id is free; False otherwise."""
    global _start_tracing, _stop_tracing, _mon, _DISABLE, _getframe, _main_ident, _LOCAL_EVENTS, _mon_set_local
    mon = getattr(sys, 'monitoring', None)
    if mon is None:
        return False
    try:
        mon.use_tool_id(_MON_TOOL, 'cwm-debug tracer')
    except Exception:
        return False
    _mon = mon
    _DISABLE = mon.DISABLE
    _getframe = sys._getframe
    _main_ident = _get_ident()
    E = mon.events
    _LOCAL_EVENTS = E.LINE | E.JUMP | E.BRANCH | E.PY_RESUME | E.PY_RETURN | E.PY_YIELD | E.STOP_ITERATION
    callbacks = ((E.PY_START, _mon_call), (E.PY_RESUME, _mon_resume), (E.PY_THROW, _mon_resume),
                 (E.LINE, _mon_line), (E.JUMP, _mon_jump), (E.BRANCH, _mon_jump), (E.PY_RETURN, _mon_return),
                 (E.PY_YIELD, _mon_return), (E.PY_UNWIND, _mon_unwind), (E.RAISE, _mon_exception),
                 (E.STOP_ITERATION, _mon_exception))

    register, set_events, set_local_events = mon.register_callback, mon.set_events, mon.set_local_events

    def start():
        for event, callback in callbacks:
            register(_MON_TOOL, event, callback)
        set_events(_MON_TOOL, E.PY_START | E.PY_THROW | E.PY_UNWIND | E.RAISE)
        # The program may use sys.monitoring too, but not the tracer's tool id (as its sys.settrace is ignored).
        for name in ('use_tool_id', 'free_tool_id', 'clear_tool_id', 'register_callback', 'set_events',
                     'set_local_events'):
            real = getattr(mon, name, None)
            if real is not None:
                setattr(mon, name, _guard_tool(real))

    def stop():
        set_events(_MON_TOOL, 0)
        for event, _ in callbacks:
            register(_MON_TOOL, event, None)
        for code in list(_mon_codes.values()):
            try:
                set_local_events(_MON_TOOL, code, 0)
            except Exception:
                pass
        _mon_codes.clear()

    _start_tracing = start
    _stop_tracing = stop
    _mon_set_local = set_local_events
    return True


def _guard_tool(real):
    def guarded(tool_id, *args, **kwargs):
        if tool_id == _MON_TOOL:
            _note('monitoring', 'The program used sys.monitoring tool id %d, which the tracer uses; the call was '
                                'ignored while tracing.' % _MON_TOOL)
            return None
        return real(tool_id, *args, **kwargs)
    return guarded


def _mon_call(code, offset):
    if _mon_codes_get(id(code)) is not code:  # else: traced code whose local events are on already
        info = _code_infos_get(id(code))
        if info is None or info[0] is not code:
            info = _code_info(code)
        if not info[1]:
            return _DISABLE  # never traced: this code starts without calling back again
        if _get_ident() != _main_ident:
            return None  # only the main thread is traced (as settrace, which is per thread)
        _mon_set_local(_MON_TOOL, code, _LOCAL_EVENTS)
        _mon_codes[id(code)] = code
    elif _get_ident() != _main_ident:
        return None
    frame = _getframe(1)
    # A new frame's next event is its first line event, which needs no diff (see _local_first).
    _fresh[0] = frame if _global(frame, 'call', None) is _local_first else None


def _mon_resume(code, offset, exc=None):
    if _get_ident() == _main_ident:
        _global(_getframe(1), 'call', None)


_fresh = [None]  # the new frame whose first line event comes next (set at each call event)


def _mon_line(code, line):
    frame = _getframe(1)
    if frame is _fresh[0]:
        _fresh[0] = None
        _local_first(frame, 'line', line)
    else:
        _local(frame, 'line', line)


def _mon_return(code, offset, value):
    _local(_getframe(1), 'return', value)


def _mon_unwind(code, offset, exc):
    info = _code_infos_get(id(code))
    if info is not None and info[1]:
        _local(_getframe(1), 'return', None)


def _mon_exception(code, offset, exc):
    info = _code_infos_get(id(code))
    if info is not None and info[1]:
        _local(_getframe(1), 'exception', (type(exc), exc, exc.__traceback__))


def _mon_jump(code, source, target):
    """settrace reports a backward jump within one line as a line event (a loop on one line); nothing else."""
    if target > source:
        return _DISABLE
    entry = _mon_lines.get(id(code))
    if entry is None or entry[0] is not code:
        lines = {}
        for start, end, line in code.co_lines():
            for at in range(start, end, 2):
                lines[at] = line
        entry = _mon_lines[id(code)] = (code, lines)
    line = entry[1].get(target)
    if line is None or line != entry[1].get(source):
        return _DISABLE
    _local(_getframe(1), 'line', line)


# ---------------------------------------------------------------- captured program output
_inside = False
_out_bytes = [0]  # bytes the program printed (kept out of globals, see _scope_ids)


class _Capture(io.TextIOBase):
    """Replaces sys.stdout/sys.stderr: every write becomes an output record of the current step."""

    def __init__(self, stream, name):
        super().__init__()
        self._stream = stream
        self._name = name
        self.buffer = _CaptureBuffer(self)

    @property
    def encoding(self):
        return 'utf-8'

    @property
    def errors(self):
        return 'strict'

    @property
    def name(self):
        return self._name

    def writable(self):
        return True

    def isatty(self):
        return False

    def flush(self):
        pass

    def write(self, s):
        if type(s) is not str:
            if not isinstance(s, str):
                raise TypeError('write() argument must be str, not %s' % type(s).__name__)
            s = str(s)
        if _in_repr[0] or not s:
            return len(s)
        _out_bytes[0] += len(s) if s.isascii() else len(s.encode('utf-8', 'surrogatepass'))
        if _out_bytes[0] > _MAXOUT:
            _finish({'kind': 'limit', 'limit': 'output',
                     'message': 'The program printed more than %d bytes (maxOutputBytes); it was stopped there.'
                                % _MAXOUT})
        _push(_enc({'t': 'out', 'stream': self._stream, 'text': s, 'outside': not _inside}))
        return len(s)


class _CaptureBuffer(io.RawIOBase):
    """sys.stdout.buffer for programs that write bytes."""

    def __init__(self, text):
        super().__init__()
        self._text = text

    def writable(self):
        return True

    def write(self, b):
        data = bytes(b)
        self._text.write(data.decode('utf-8', 'replace'))
        return len(data)


# ---------------------------------------------------------------- guards against the program
def _user_settrace(function):
    _note('settrace', 'The program called sys.settrace(); the call was ignored while tracing.')


def _user_os_exit(code):
    _finish({'kind': 'exited', 'code': code if isinstance(code, int) else str(code),
             'message': 'The program called os._exit(%s).' % (code,)}, code if isinstance(code, int) else 1)


_real_thread_start = threading.Thread.start


def _thread_start(self, *args, **kwargs):
    _note('thread', 'The program started a thread; only the main thread is traced.')
    return _real_thread_start(self, *args, **kwargs)


def _watchdog():
    """Ends the run at the time limit and applies backpressure, whatever the main thread does. It never writes and
    never takes the output lock, so a reader that falls behind cannot stop it."""
    deadline = _T0 + _TIMEOUT
    stop = _thread.allocate_lock()
    stop.acquire()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            _finish({'kind': 'limit', 'limit': 'time',
                     'message': 'The program ran longer than the time limit of %g s (timeout); it was stopped there.'
                                % _TIMEOUT})
        stop.acquire(True, min(0.01, left))
        n = len(_buf)
        if n > _BUF_KICK:
            _signal(_wake)
            if n > _BUF_HIGH:
                _close_gate()
        elif _push is not _plain_push and n < _BUF_HIGH // 2:
            _open_gate()


def _writer():
    """Writes the buffer every 50 ms, or sooner when the watchdog or a waiting program thread asks."""
    while True:
        _wake.acquire(True, 0.05)
        if _finishing:
            return
        try:
            limited = _flush()
        except OSError:
            # The reader is gone (closed pipe): nothing written from now on could reach anyone.
            _real_exit(1)
        if limited:
            _finish(_events_limit_end())


# ---------------------------------------------------------------- setup
def _parse_options(argv):
    global _LIM, _BIGI, _NBIGI, _MAXEV, _TIMEOUT, _MAXOUT
    global _objects_on
    opts = {'entry': None, 'args': None, 'script': False, 'include': [], 'file': None, 'argv': [], 'hook': 'auto'}
    i = 0
    numeric = {'--max-events': int, '--timeout': float, '--max-repr': int, '--max-output': int}
    while i < len(argv):
        a = argv[i]
        value = None
        if a == '--':
            opts['argv'] = list(argv[i + 1:])  # the program's own arguments (its sys.argv[1:])
            break
        if a.startswith('--') and '=' in a:
            a, value = a.split('=', 1)
        needs_value = a in ('--entry', '--args', '--include', '--hook') or a in numeric
        if needs_value and value is None:
            i += 1
            if i >= len(argv):
                raise ValueError('option %s needs a value' % a)
            value = argv[i]
        if a == '--entry':
            opts['entry'] = value
        elif a == '--args':
            opts['args'] = value
        elif a == '--include':
            opts['include'].append(value)
        elif a == '--script':
            opts['script'] = True
        elif a == '--objects':
            _objects_on = True  # attributes of the program's objects, outside the CWM text (see object state)
        elif a == '--hook':
            # auto: sys.monitoring where there is one (3.12+), else sys.settrace; the same trace either way.
            if value not in ('auto', 'settrace', 'monitoring'):
                raise ValueError('option --hook must be auto, settrace or monitoring')
            opts['hook'] = value
        elif a in numeric:
            number = numeric[a](value)
            if not number > 0 and not (a == '--max-output' and number == 0):
                raise ValueError('option %s must be positive' % a)
            opts[a] = number
        elif a.startswith('--'):
            raise ValueError('unknown option %s' % a)
        elif opts['file'] is None:
            opts['file'] = a
        else:
            raise ValueError('unexpected argument %s' % a)
        i += 1
    if opts['file'] is None:
        raise ValueError('no file to trace was given')
    _MAXEV = opts.get('--max-events', _MAXEV)
    _TIMEOUT = opts.get('--timeout', _TIMEOUT)
    _LIM = opts.get('--max-repr', _LIM)
    _MAXOUT = opts.get('--max-output', _MAXOUT)
    # Ints below this bound have at most _LIM - 1 digits (and stay under 3.11's 4300-digit conversion limit).
    _BIGI = 10 ** (max(1, min(_LIM, 4000)) - 1)
    _NBIGI = -_BIGI
    return opts


def _excluded_directories():
    dirs = set()
    try:
        import sysconfig
        paths = sysconfig.get_paths()
        for key in ('stdlib', 'platstdlib', 'purelib', 'platlib'):
            if paths.get(key):
                dirs.add(paths[key])
    except Exception:
        pass
    try:
        import site
        dirs.update(site.getsitepackages())
        user_site = site.getusersitepackages()
        if isinstance(user_site, str):
            dirs.add(user_site)
    except Exception:
        pass
    dirs.add(os.path.dirname(os.__file__))
    result = []
    for d in dirs:
        try:
            result.append(os.path.join(os.path.realpath(d), ''))
        except Exception:
            pass
    return tuple(result)


def _where(exc, path):
    """' (line N)' for the innermost traceback entry in the traced file, or ''."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if os.path.realpath(tb.tb_frame.f_code.co_filename) == _target:
            line = tb.tb_lineno
        tb = tb.tb_next
    return ' (line %d)' % line if line else ''


def _exception_text(exc):
    try:
        detail = str(exc)
    except BaseException:
        detail = ''
    name = type(exc).__name__
    return '%s: %s' % (name, detail) if detail else name


_MARKER_LINE = re.compile(r'#\s*<<\s*START_OF_TRACE')
_DEF_LINE = re.compile(r'^([ \t]*)(async[ \t]+)?def[ \t]+(\w+)')


def _find_marker(source_text):
    """(line, name, indented, is_async) of the def line carrying the START_OF_TRACE marker, or None."""
    for number, text in enumerate(source_text.splitlines(), 1):
        if _MARKER_LINE.search(text):
            m = _DEF_LINE.match(text)
            if not m:
                return (number, None, False, False)
            return (number, m.group(3), bool(m.group(1)), bool(m.group(2)))
    return None


def _required_parameters(fn):
    code = getattr(fn, '__code__', None)
    if not isinstance(fn, _FUNCTION) or code is None:
        return []
    names = code.co_varnames
    npos = code.co_argcount
    defaults = fn.__defaults__ or ()
    required = list(names[:npos - len(defaults)])
    kwdefaults = fn.__kwdefaults__ or {}
    for name in names[npos:npos + code.co_kwonlyargcount]:
        if name not in kwdefaults:
            required.append(name)
    return required


def _def_line(fn, source_lines):
    code = getattr(fn, '__code__', None)
    if code is None:
        return 0
    line = code.co_firstlineno
    while 0 < line <= len(source_lines) and source_lines[line - 1].lstrip().startswith('@'):
        line += 1
    return line


def _collect_args(*args, **kwargs):
    return args, kwargs


def _end_of_call(exc, path, started):
    if exc is None:
        return {'kind': 'returned'}
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is not None and not isinstance(code, (int, str)):
            code = str(code)
        shown = 'sys.exit()' if code is None else 'sys.exit(%r)' % (code,)
        return {'kind': 'exited', 'code': code, 'message': 'The program called %s%s.' % (shown, _where(exc, path))}
    return {'kind': 'raised', 'message': _exception_text(exc) + _where(exc, path)}


def _run_exit_functions():
    try:
        import atexit
        atexit._run_exitfuncs()
    except BaseException:
        pass

# ---------------------------------------------------------------- startup hardening (runner.ts asks for it)
# Options read here and removed before _parse_options sees the rest:
#   --channel-key-stdin   the first line of stdin is a per-run key (hex); every write of the trace is then framed as
#                         \x02SEQ LEN MAC\n + LEN bytes (MAC: HMAC-SHA256 of "SEQ LEN\n" + bytes, first 32 hex digits),
#                         at most 4096 bytes a frame so that a pipe write is atomic. What the program writes to the
#                         channel's descriptor carries no valid MAC, and the reader reports it instead of reading it.
#   --contain             Linux: this process stays behind as a keeper, a child subreaper, and the tracer runs in a forked
#                         child; once the tracer ends (or on SIGTERM, or when the runner dies) the keeper kills every
#                         descendant, including those that called setsid() or ignore SIGTERM, then exits as the tracer did.
#   --max-memory BYTES    a limit on the program's data memory (RLIMIT_DATA on Linux, RLIMIT_AS elsewhere); running out
#                         of it ends the trace with a "memory" limit.
_FRAME_BYTES = 4096
_memory_limit = 0


def _harden_startup(argv):
    """Applies the hardening options and returns the remaining arguments; with --contain, returns in the tracer only."""
    rest, key, contain, memory = [], None, False, 0
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == '--channel-key-stdin':
            key = _read_channel_key()
        elif a == '--contain':
            contain = True
        elif a == '--max-memory' and i + 1 < len(argv):
            i += 1
            try:
                memory = int(argv[i])
            except ValueError:
                memory = 0
        else:
            rest.append(a)
        i += 1
    if contain:
        _become_keeper()
    if memory > 0:
        _limit_memory(memory)
    if key is not None:
        _authenticate_channel(key)
    return rest


def _read_channel_key():
    """Reads the key line from stdin, then puts /dev/null there so that the program can neither read it nor wait."""
    data = b''
    try:
        while b'\n' not in data and len(data) < 256:
            chunk = os.read(0, 256)
            if not chunk:
                break
            data += chunk
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
    except OSError:
        pass
    try:
        return bytes.fromhex(data.split(b'\n', 1)[0].decode('ascii').strip()) or None
    except (ValueError, UnicodeDecodeError):
        return None


def _authenticate_channel(key):
    """Frames and authenticates every write of the trace; a forked copy of the program writes nothing."""
    global _write_all
    import hmac
    import hashlib
    new, sha256, plain_write = hmac.new, hashlib.sha256, _write_all
    state = {'seq': 0, 'key': key}

    def write_framed(data):
        step = _FRAME_BYTES - 64
        for start in range(0, len(data), step):
            payload = data[start:start + step]
            state['seq'] += 1
            head = b'%d %d\n' % (state['seq'], len(payload))
            mac = new(state['key'], head + payload, sha256).hexdigest()[:32].encode('ascii')
            plain_write(b'\x02' + head[:-1] + b' ' + mac + b'\n' + payload)

    def forget_in_fork():
        # A forked copy of the program must not speak for the tracer: it loses the key and the channel.
        global _write_all
        state['key'] = os.urandom(32)
        _write_all = lambda data: None  # noqa: E731
        try:
            _real_settrace(None)
        except BaseException:
            pass

    _write_all = write_framed
    if hasattr(os, 'register_at_fork'):
        os.register_at_fork(after_in_child=forget_in_fork)


def _limit_memory(limit):
    global _memory_limit, _end_of_call
    try:
        import resource
        which = resource.RLIMIT_DATA if sys.platform.startswith('linux') else resource.RLIMIT_AS
        soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(which, (limit, hard))
    except (ImportError, ValueError, OSError, AttributeError):
        return
    _memory_limit = limit
    plain_end = _end_of_call

    def end_of_call(exc, path, started):
        if isinstance(exc, MemoryError):
            return {'kind': 'limit', 'limit': 'memory',
                    'message': 'The program ran out of memory at the limit of %d MB (maxMemoryMb); it was stopped there.'
                               % max(1, _memory_limit // (1024 * 1024))}
        return plain_end(exc, path, started)

    _end_of_call = end_of_call


def _become_keeper():
    """Forks: the child returns and runs the tracer; this process keeps watch and never returns."""
    if not sys.platform.startswith('linux'):
        return
    try:
        import ctypes
        import signal
        libc = ctypes.CDLL(None, use_errno=True)
        # PR_SET_CHILD_SUBREAPER (36): orphans below this process (setsid daemons) are reparented here, not to init.
        if libc.prctl(36, 1, 0, 0, 0) != 0:
            return
        # PR_SET_PDEATHSIG (1): if the runner dies, the keeper hears SIGTERM and takes everything down.
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:
        return
    tracer = os.fork()
    if tracer == 0:
        # The tracer dies with its keeper, whatever kills the keeper.
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
        if os.getppid() == 1:
            _real_exit(1)
        return

    def stop(signum, frame):
        _kill_descendants()
        _real_exit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    except OSError:
        pass
    status = 0
    while True:
        try:
            pid, status = os.waitpid(tracer, 0)
            break
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    _kill_descendants()
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    _real_exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _living_descendants(root):
    """Process ids below `root` that are not zombies, read from /proc."""
    children = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name, 'rb') as f:
                fields = f.read().rsplit(b')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] == b'Z':
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root]
    while todo:
        for pid in children.get(todo.pop(), ()):
            found.append(pid)
            todo.append(pid)
    return found


def _kill_descendants():
    """SIGKILLs every descendant until none is left: what a killed process leaves behind is reparented here."""
    deadline = time.monotonic() + 5.0
    me = os.getpid()
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        left = _living_descendants(me)
        if not left or time.monotonic() > deadline:
            return
        for pid in left:
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        time.sleep(0.005)


def main(argv):
    global _out_fd, _target, _includes_dirs, _includes_files, _excluded_dirs, _inside
    argv = _harden_startup(argv)
    # The trace goes to a private copy of stdout; fd 1 then points at stderr so that stray writes by C code or
    # os.write(1, ...) cannot corrupt it.
    _out_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        opts = _parse_options(argv)
    except Exception as e:
        _error('tracer-failed', 'Bad tracer arguments: %s.' % e)
    path = os.path.abspath(opts['file'])
    _push(_enc({'t': 'start', 'python': sys.version, 'pid': os.getpid(), 'file': path}))
    _flush()  # at once: the runner times the run from this record
    _thread.start_new_thread(_watchdog, ())
    _thread.start_new_thread(_writer, ())

    if not os.path.isfile(path):
        _error('file-not-found', 'File not found: "%s". Check the path of the program to trace.' % path)
    _target = os.path.realpath(path)
    base = os.path.basename(path)
    try:
        with open(path, 'rb') as f:
            source = f.read()
        code = compile(source, path, 'exec', dont_inherit=True)
    except SyntaxError as e:
        where = ' at line %d' % e.lineno if e.lineno else ''
        _error('syntax-error', 'Syntax error in %s%s: %s. Fix the program and trace it again.' % (base, where, e.msg))
    except (ValueError, OSError) as e:
        _error('syntax-error', 'Cannot compile %s: %s. Fix the program and trace it again.' % (base, e))
    try:
        source_text = source.decode('utf-8')
    except UnicodeDecodeError:
        source_text = source.decode('latin-1')
    source_lines = source_text.splitlines()
    _grow_line_tokens(len(source_lines) + 2)

    excluded = _excluded_directories()
    me = os.path.realpath(__file__)
    _file_decisions[__file__] = False
    # The program's own folder (and below) is the user's project: its modules are traced without --include.
    inc_files, inc_dirs = set(), [os.path.join(os.path.dirname(_target), '')]
    for inc in opts['include']:
        real = os.path.realpath(os.path.abspath(inc))
        if os.path.isdir(real):
            inc_dirs.append(os.path.join(real, ''))
        elif os.path.isfile(real):
            inc_files.add(real)
        else:
            _error('bad-include', 'Nothing to include at "%s": no such file or folder. Check the --include path.' % inc)
    inc_files.discard(me)
    _includes_files = inc_files
    _includes_dirs = tuple(inc_dirs)
    _excluded_dirs = excluded + (me,)

    # The program sees itself as run from its own file and directory.
    sys.argv = [path] + opts['argv']
    program_dir = os.path.dirname(path)
    if sys.path and os.path.realpath(sys.path[0] or '.') == os.path.dirname(me):
        sys.path[0] = program_dir
    else:
        sys.path.insert(0, program_dir)
    sys.stdout = _Capture(0, '<stdout>')
    sys.stderr = _Capture(1, '<stderr>')
    sys.settrace = _user_settrace
    os._exit = _user_os_exit
    threading.Thread.start = _thread_start

    if opts['hook'] != 'settrace' and not _use_monitoring() and opts['hook'] == 'monitoring':
        _error('tracer-failed', 'sys.monitoring is not available here (Python 3.12 or newer, tool id %d free); '
               'trace with --hook settrace or auto.' % _MON_TOOL)
    marker = _find_marker(source_text)
    script = opts['script'] or (opts['entry'] is None and marker is None)
    if not script and opts['entry'] is None:
        _refuse_second_marker(source_text, base)
    if script:
        _run_script(code, path)
    elif opts['entry'] is None and opts['args'] is None and _marked_needs_arguments(source, marker):
        _run_first_call(code, path, base, marker)
    else:
        _run_function(code, path, base, source_lines, opts, marker)


def _run_script(code, path):
    global _inside
    module = types.ModuleType('__main__')
    module.__file__ = path
    module.__builtins__ = builtins
    module.__cached__ = None
    sys.modules['__main__'] = module
    _push(_enc({'t': 'begin', 'entry': {'kind': 'script'}}))
    _flush()
    exc = None
    _inside = True
    _start_tracing()
    try:
        exec(code, module.__dict__)
    except BaseException as e:
        exc = e
    finally:
        _stop_tracing()
        _inside = False
    _run_exit_functions()
    _finish(_end_of_call(exc, path, True))


def _args_syntax_problem(text, e):
    """What is wrong in the user's argument text, placed in that text: the wrapper call around it (on lines 1 and 3)
    is never mentioned."""
    if e.lineno == 2 and e.offset:
        return '%s (column %d)' % (re.sub(r'\s*\(detected at line \d+\)', '', e.msg).rstrip('.'), e.offset)
    # The error is at the wrapper's closing parenthesis: something the user opened is still open.
    stack, quote = [], None
    for column, char in enumerate(text, 1):
        if quote:
            if char == quote:
                quote = None
        elif char in '\'"':
            quote = char
        elif char in '([{':
            stack.append((char, column))
        elif char in ')]}':
            if not stack:
                return "unmatched '%s' (column %d)" % (char, column)
            stack.pop()
    if quote:
        return 'a string is never closed'
    if stack:
        return "'%s' (column %d) is never closed" % stack[-1]
    return 'the list ends too early'


def _refuse_second_marker(source_text, base):
    marked = [(number, m.group(3)) for number, text in enumerate(source_text.splitlines(), 1)
              if _MARKER_LINE.search(text) for m in [_DEF_LINE.match(text)] if m]
    if len(marked) > 1:
        _error('no-entry', 'Two functions of %s carry the START_OF_TRACE marker: "%s" (line %d) and "%s" (line %d). '
               'Keep the marker on one of them, or pass --entry NAME.'
               % (base, marked[0][1], marked[0][0], marked[1][1], marked[1][0]))


def _marked_needs_arguments(source, marker):
    """True when the marked module-level def has parameters without defaults (read from the text, nothing run)."""
    line, name, indented, is_async = marker
    if name is None or indented or is_async:
        return False
    try:
        import ast
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == name and node.lineno <= line:
                a = node.args
                positional = list(getattr(a, 'posonlyargs', [])) + list(a.args)
                return len(positional) > len(a.defaults) or any(d is None for d in a.kw_defaults)
    except Exception:
        pass
    return False


def _run_first_call(code, path, base, marker):
    """The marked function needs arguments and none were given: run the file as a script (as `python FILE` would) and
    trace the marked function's first call, with the arguments the script gives it. The run ends when that call does."""
    global _inside
    line, name, _, _ = marker
    pending = [None]  # the exception leaving the entry frame, if any

    def entry_local(frame, event, arg):
        if event == 'exception':
            pending[0] = arg
        elif event == 'line':
            pending[0] = None
        result = _local(frame, event, arg)
        if event == 'return' and _states_get(frame) is None:
            exc = pending[0][1] if pending[0] is not None else None
            _finish(_end_of_call(exc, path, True))
        return entry_local if result is not None else None

    def wait_for_call(frame, event, arg):
        global _inside
        code_ = frame.f_code
        if code_.co_name != name or code_.co_firstlineno > line or os.path.realpath(code_.co_filename) != _target:
            return None
        _push(_enc({'t': 'note', 'text': 'No --args given: the program ran as a script and this is the first call of '
                                         '"%s" (line %d), with the arguments the script passed; the rest of the '
                                         'script did not run. Pass --args to call it with arguments of your own.'
                                         % (name, line)}))
        _push(_enc({'t': 'begin', 'entry': {'kind': 'function', 'name': name, 'line': line}}))
        _flush()
        _inside = True
        _real_settrace(_global)
        if _global(frame, event, arg) is None:
            return None
        return entry_local

    module = types.ModuleType('__main__')
    module.__file__ = path
    module.__builtins__ = builtins
    module.__cached__ = None
    sys.modules['__main__'] = module
    exc = None
    _real_settrace(wait_for_call)
    try:
        exec(code, module.__dict__)
    except BaseException as e:
        exc = e
    finally:
        _real_settrace(None)
        _inside = False
    if isinstance(exc, SystemExit):
        how = ' (it called sys.exit(%r) first%s)' % (exc.code, _where(exc, path))
    elif exc is not None:
        how = ' (it raised %s first%s)' % (_exception_text(exc), _where(exc, path))
    else:
        how = ''
    _error('no-entry', 'The marked function "%s" (line %d) needs arguments and running %s as a script never called '
           'it%s. Pass its arguments with --args, e.g. --args "1, 2".' % (name, line, base, how))


def _run_function(code, path, base, source_lines, opts, marker):
    global _inside
    stem = os.path.splitext(base)[0]
    name = stem if stem.isidentifier() else '__cwm_program__'
    module = types.ModuleType(name)
    module.__file__ = path
    module.__builtins__ = builtins
    if name not in sys.modules:
        sys.modules[name] = module
    try:
        exec(code, module.__dict__)
    except SystemExit as e:
        _error('program-import-failed', 'Importing %s ended the program (sys.exit(%r))%s. Move that code under '
               '`if __name__ == "__main__":` or trace the file as a script.' % (base, e.code, _where(e, path)))
    except BaseException as e:
        _error('program-import-failed', 'Importing %s raised %s%s. Fix the error or trace the file as a script.'
               % (base, _exception_text(e), _where(e, path)))

    hint = 'mark a module-level function with `# << START_OF_TRACE` on its def line, pass --entry NAME, ' \
           'or trace the file as a script'
    if opts['entry'] is not None:
        entry_name = opts['entry']
        fn = module
        try:
            for part in entry_name.split('.'):
                fn = getattr(fn, part)
        except AttributeError:
            _error('no-entry', 'No function named "%s" in %s: %s.' % (entry_name, base, hint))
        if not callable(fn):
            _error('no-entry', '"%s" in %s is not a function: %s.' % (entry_name, base, hint))
        line = _def_line(fn, source_lines)
    else:
        line, entry_name, indented, is_async = marker
        if entry_name is None:
            _error('no-entry', 'The START_OF_TRACE marker at line %d of %s is not on a def line: %s.'
                   % (line, base, hint))
        if is_async:
            _error('no-entry', 'The entry "%s" (line %d) is an async function, which is not supported as an '
                   'entry: %s.' % (entry_name, line, hint))
        if indented:
            _error('no-entry', 'The START_OF_TRACE marker is on "%s" (line %d), which is not a module-level '
                   'function: %s (e.g. --entry Class.method).' % (entry_name, line, hint))
        fn = getattr(module, entry_name, None)
        own = isinstance(fn, _FUNCTION) and fn.__code__.co_name == entry_name \
            and os.path.realpath(fn.__code__.co_filename) == _target \
            and fn.__code__.co_firstlineno <= line
        if not own:
            _error('no-entry', 'The entry "%s" (line %d) is decorated or replaced at import time, which is not '
                   'supported: %s.' % (entry_name, line, hint))

    args_text = opts['args']
    args, kwargs = (), {}
    if args_text is not None and args_text.strip():
        try:
            expr = compile('__cwm_collect__(\n' + args_text + '\n)', '<args>', 'eval', dont_inherit=True)
            args, kwargs = eval(expr, module.__dict__, {'__cwm_collect__': _collect_args})
        except SyntaxError as e:
            _error('bad-args', 'The arguments "%s" are not a valid Python argument list: %s. Write them as in a '
                   'call, e.g. --args "[1, 2], \'a\'".' % (args_text, _args_syntax_problem(args_text, e)))
        except BaseException as e:
            _error('bad-args', 'Evaluating the arguments "%s" raised %s. Fix the --args expression.'
                   % (args_text, _exception_text(e)))
    elif _required_parameters(fn):
        _error('bad-args', 'The entry "%s" needs arguments (%s): pass them with --args, e.g. --args "1, 2".'
               % (entry_name, ', '.join(_required_parameters(fn))))

    entry = {'kind': 'function', 'name': entry_name, 'line': line}
    if args_text is not None:
        entry['args'] = args_text
    _push(_enc({'t': 'begin', 'entry': entry}))
    _flush()
    exc = None
    _inside = True
    _start_tracing()
    try:
        fn(*args, **kwargs)
    except BaseException as e:
        exc = e
    finally:
        _stop_tracing()
        _inside = False
    if exc is not None and next(_scope_ids) == 1 and isinstance(exc, TypeError):
        # Nothing ran: the call itself failed, so the arguments do not fit the function.
        _error('bad-args', 'Calling "%s" with the arguments "%s" failed: %s. Fix the --args expression.'
               % (entry_name, args_text or '', _exception_text(exc)))
    _run_exit_functions()
    _finish(_end_of_call(exc, path, True))


def cli(argv):
    """Runs the tracer; never returns (the process ends with the trace)."""
    try:
        main(argv)
    except BaseException as e:  # _finish never returns; anything reaching here is a tracer bug
        try:
            _error('tracer-failed', 'The tracer failed: %s.' % _exception_text(e))
        except BaseException:
            _real_exit(70)


if __name__ == '__main__':
    cli(sys.argv[1:])
