# Evaluates debugger expressions (watch, hover, console, breakpoint conditions) on one trace frame's values.
# Values arrive as repr text and are rebuilt only from literals; JSON Lines on stdin/stdout; stdlib only, Python 3.8+.
#
# First line out: {"ready": true, "version": "3.11.2"}
# Request:  {"id": 1, "expression": "x + 1", "locals": {"x": "41"}}
# Answer:   {"id": 1, "ok": true, "repr": "42", "kind": "int", "truthy": true}
#      or:  {"id": 1, "ok": false, "error": "NameError: name 'y' is not defined"}
# The parent enforces the time limit (from `ready` on) by killing this process; it also dies with its parent (stdin EOF, parent-death
# signal on Linux, a parent-pid watchdog elsewhere).

import sys

if sys.version_info < (3, 8):
    sys.stderr.write('The evaluation helper needs Python 3.8 or newer; this is %s.\n' % sys.version.split()[0])
    sys.exit(2)

import ast
import builtins
import collections
import json
import math
import os
import re
import threading

TRUNCATION_MARKER = '\u2026<truncated>'
MAX_REPR_LENGTH = 100000
MEMORY_LIMIT_BYTES = 2 * 1024 ** 3
_ADDRESS = re.compile(r' at 0x[0-9a-fA-F]+')
_DEFAULTDICT = re.compile(r"defaultdict\((?:<class '(\w+)'>|None), ")

SAFE_BUILTIN_NAMES = (
    'len', 'sum', 'min', 'max', 'sorted', 'abs', 'any', 'all', 'range', 'list', 'dict', 'set', 'tuple', 'str', 'int',
    'float', 'repr', 'isinstance', 'enumerate', 'zip', 'reversed', 'round', 'type',
    # Harmless extras a watch expression commonly needs.
    'bool', 'bytes', 'frozenset', 'complex', 'chr', 'ord', 'divmod', 'pow', 'map', 'filter', 'hex', 'oct', 'bin',
    'slice', 'iter', 'next', 'hash', 'callable', 'format', 'Ellipsis',
    'Exception', 'ValueError', 'TypeError', 'KeyError', 'IndexError', 'ZeroDivisionError',
)
SAFE_BUILTINS = {name: getattr(builtins, name) for name in SAFE_BUILTIN_NAMES}
GLOBAL_EXTRAS = {
    'deque': collections.deque,
    'Counter': collections.Counter,
    'OrderedDict': collections.OrderedDict,
    'defaultdict': collections.defaultdict,
    'inf': math.inf,
    'nan': math.nan,
}
_FACTORIES = {
    'int': int, 'float': float, 'str': str, 'bytes': bytes, 'list': list, 'dict': dict, 'set': set,
    'frozenset': frozenset, 'tuple': tuple, 'bool': bool, 'complex': complex,
}
_NAMED_CONSTANTS = {
    'inf': math.inf,
    'nan': math.nan,
    'infj': complex(0.0, math.inf),
    'nanj': complex(0.0, math.nan),
    'Ellipsis': Ellipsis,
    'True': True,
    'False': False,
    'None': None,
}


class TextOnly(Exception):
    """The value is known only as its repr text (not a literal, or truncated): it cannot take part in evaluation."""


def _number(value):
    return isinstance(value, (int, float, complex)) and not isinstance(value, bool)


def _rebuild(node):
    if isinstance(node, ast.Constant):
        # `...` in a repr marks a recursive container, never the Ellipsis object (whose repr is `Ellipsis`).
        if node.value is Ellipsis:
            raise TextOnly()
        return node.value
    if isinstance(node, ast.Name) and node.id in _NAMED_CONSTANTS:
        return _NAMED_CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _rebuild(node.operand)
        if _number(operand):
            return -operand if isinstance(node.op, ast.USub) else operand
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        # Complex reprs: `(1+2j)`, `(-0-1j)`, `(nan+infj)`.
        left, right = _rebuild(node.left), _rebuild(node.right)
        if isinstance(left, (int, float)) and not isinstance(left, bool) and isinstance(right, complex):
            return left + right if isinstance(node.op, ast.Add) else left - right
    if isinstance(node, ast.Tuple):
        return tuple(_rebuild(element) for element in node.elts)
    if isinstance(node, ast.List):
        return [_rebuild(element) for element in node.elts]
    if isinstance(node, ast.Set):
        return {_rebuild(element) for element in node.elts}
    if isinstance(node, ast.Dict):
        if any(key is None for key in node.keys):
            raise TextOnly()
        return {_rebuild(key): _rebuild(value) for key, value in zip(node.keys, node.values)}
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return _rebuild_call(node.func.id, [_rebuild(arg) for arg in node.args], node.keywords)
    raise TextOnly()


def _rebuild_call(name, args, keywords):
    if keywords:
        if name == 'deque' and len(args) == 1 and len(keywords) == 1 and keywords[0].arg == 'maxlen':
            maxlen = _rebuild(keywords[0].value)
            if isinstance(maxlen, int) and isinstance(args[0], list):
                return collections.deque(args[0], maxlen=maxlen)
        raise TextOnly()
    if name == 'set' and not args:
        return set()
    if name == 'frozenset' and (not args or (len(args) == 1 and isinstance(args[0], set))):
        return frozenset(*args)
    if name == 'deque' and len(args) == 1 and isinstance(args[0], list):
        return collections.deque(args[0])
    if name == 'Counter' and (not args or (len(args) == 1 and isinstance(args[0], dict))):
        return collections.Counter(*args)
    if name == 'OrderedDict' and (not args or (len(args) == 1 and isinstance(args[0], (dict, list)))):
        return collections.OrderedDict(*args)
    if name == 'bytearray' and (not args or (len(args) == 1 and isinstance(args[0], bytes))):
        return bytearray(*args)
    if name == 'range' and 1 <= len(args) <= 3 and all(type(arg) is int for arg in args):
        return range(*args)
    raise TextOnly()


def rebuild(text):
    """The value a repr stands for, when it is a literal (or one of the few safe extras); raises TextOnly otherwise."""
    if text.endswith(TRUNCATION_MARKER):
        raise TextOnly()
    text = text.strip()
    factory_match = _DEFAULTDICT.match(text)
    try:
        if factory_match:
            if not text.endswith(')'):
                raise TextOnly()
            factory_name = factory_match.group(1)
            if factory_name is not None and factory_name not in _FACTORIES:
                raise TextOnly()
            mapping = _rebuild(ast.parse(text[factory_match.end():-1], mode='eval').body)
            if not isinstance(mapping, dict):
                raise TextOnly()
            return collections.defaultdict(_FACTORIES.get(factory_name or ''), mapping)
        return _rebuild(ast.parse(text, mode='eval').body)
    except TextOnly:
        raise
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError, OverflowError):
        raise TextOnly()


def _shorten(text, limit=200):
    return text if len(text) <= limit else text[:limit] + '\u2026'


def _text_only_error(name, text):
    if text.endswith(TRUNCATION_MARKER):
        return '%s exists only as text in this trace (its repr was truncated): %s' % (name, _shorten(text))
    return '%s exists only as text in this trace: %s' % (name, _shorten(text))


def _bound_names(tree):
    """Names the expression binds itself (comprehension targets, lambda parameters, `:=` targets)."""
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


def _kind(value):
    if value is None:
        return 'None'
    return type(value).__name__


def _repr(value):
    text = _ADDRESS.sub('', repr(value))
    return text if len(text) <= MAX_REPR_LENGTH else text[:MAX_REPR_LENGTH] + TRUNCATION_MARKER


def evaluate(expression, texts):
    if '__' in expression:
        return {'ok': False, 'error': 'Expressions may not use names with "__" (dunder access is not allowed).'}
    try:
        tree = ast.parse(expression.strip(), mode='eval')
    except SyntaxError as error:
        where = ' (column %d)' % error.offset if error.offset else ''
        return {'ok': False, 'error': 'SyntaxError: %s%s' % (error.msg, where)}
    except (ValueError, RecursionError, MemoryError) as error:
        return {'ok': False, 'error': '%s: %s' % (type(error).__name__, error)}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    bound = _bound_names(tree)
    namespace = {'__builtins__': SAFE_BUILTINS}
    namespace.update(GLOBAL_EXTRAS)
    text_only = {}
    for name in used:
        if name not in texts:
            continue
        try:
            namespace[name] = rebuild(texts[name])
        except TextOnly:
            if name not in bound:
                return {'ok': False, 'error': _text_only_error(name, texts[name])}
            text_only[name] = texts[name]
    try:
        value = eval(compile(tree, '<expression>', 'eval'), namespace)
        text = _repr(value)
    except NameError as error:
        for name, text in text_only.items():
            if "'%s'" % name in str(error):
                return {'ok': False, 'error': _text_only_error(name, text)}
        return {'ok': False, 'error': 'NameError: %s' % error}
    except Exception as error:  # noqa: BLE001 - any failure of the user's expression is an answer, not a crash
        return {'ok': False, 'error': '%s: %s' % (type(error).__name__, error)}
    try:
        truthy = bool(value)
    except Exception:  # noqa: BLE001 - a value whose truth cannot be taken still has a repr
        truthy = None
    return {'ok': True, 'repr': text, 'kind': _kind(value), 'truthy': truthy}


def _die_with_parent():
    parent = os.getppid()
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, 9)
    except Exception:  # noqa: BLE001 - not Linux: the watchdog below covers it
        pass

    def watch():
        while True:
            threading.Event().wait(1.0)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _limit_memory():
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > MEMORY_LIMIT_BYTES:
            resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, hard))
    except Exception:  # noqa: BLE001 - not available on this platform
        pass


def main():
    _die_with_parent()
    _limit_memory()
    if hasattr(sys, 'set_int_max_str_digits'):
        sys.set_int_max_str_digits(0)
    out = sys.stdout.buffer
    # Nothing the expression does may write into the protocol stream.
    sys.stdout = sys.stderr
    stdin = sys.stdin.buffer
    out.write(json.dumps({'ready': True, 'version': sys.version.split()[0]}).encode('ascii') + b'\n')
    out.flush()
    while True:
        line = stdin.readline()
        if not line:
            return
        if not line.strip():
            continue
        request_id = None
        try:
            request = json.loads(line.decode('utf-8'))
            request_id = request.get('id')
            texts = request.get('locals') or {}
            expression = request.get('expression')
            if not isinstance(expression, str) or not isinstance(texts, dict):
                answer = {'ok': False, 'error': 'Malformed request.'}
            else:
                answer = evaluate(expression, {str(k): str(v) for k, v in texts.items()})
        except Exception as error:  # noqa: BLE001 - keep serving after a bad request
            answer = {'ok': False, 'error': 'Malformed request: %s' % error}
        answer['id'] = request_id
        out.write(json.dumps(answer).encode('ascii') + b'\n')
        out.flush()


if __name__ == '__main__':
    main()
