# Builds the entry function's first call frame from an argument list, WITHOUT running the user's program:
# the source is only parsed (ast), and the arguments are evaluated alone. Used to start predictions with given inputs.
# stdin: {"source": str, "function": str, "args": str, "maxRepr": int}; stdout: {"ok": true, "line": n, "locals": [[name, repr]...]}
# or {"ok": false, "message": str}.
import ast
import inspect
import json
import re
import sys

ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


class SourceDefault:
    """Stands for a default value that is not a literal: its repr is its source text."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def find_function(tree, dotted):
    scope = tree.body
    found = None
    for part in dotted.split("."):
        found = None
        for node in scope:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == part:
                found = node
                break
        if found is None:
            return None
        scope = found.body
    return found if isinstance(found, (ast.FunctionDef, ast.AsyncFunctionDef)) else None


def default_value(node, source):
    try:
        return ast.literal_eval(node)
    except Exception:
        return SourceDefault(ast.get_source_segment(source, node) or "...")


def signature_of(node, source):
    a = node.args
    params = []
    positional = list(getattr(a, "posonlyargs", [])) + list(a.args)
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    posonly = len(getattr(a, "posonlyargs", []))
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = inspect.Parameter.POSITIONAL_ONLY if i < posonly else inspect.Parameter.POSITIONAL_OR_KEYWORD
        value = inspect.Parameter.empty if default is None else default_value(default, source)
        params.append(inspect.Parameter(arg.arg, kind, default=value))
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        value = inspect.Parameter.empty if default is None else default_value(default, source)
        params.append(inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY, default=value))
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params)


def bounded_repr(value, limit):
    try:
        text = ADDRESS.sub("", repr(value))
    except Exception as error:
        text = "<repr raised %s: %s>" % (type(error).__name__, error)
    return text if len(text) <= limit else text[:limit] + "\u2026<truncated>"


def args_syntax_problem(text, error):
    """What is wrong in the user's argument text, placed in that text (never in the wrapper call around it)."""
    if error.lineno == 2 and error.offset:
        return "%s (column %d)" % (re.sub(r"\s*\(detected at line \d+\)", "", error.msg).rstrip("."), error.offset)
    stack, quote = [], None
    for column, char in enumerate(text, 1):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "([{":
            stack.append((char, column))
        elif char in ")]}":
            if not stack:
                return "unmatched '%s' (column %d)" % (char, column)
            stack.pop()
    if quote:
        return "a string is never closed"
    if stack:
        return "'%s' (column %d) is never closed" % stack[-1]
    return "the list ends too early"


def main():
    request = json.loads(sys.stdin.read())
    source, function, args = request["source"], request["function"], request.get("args") or ""
    limit = int(request.get("maxRepr", 2000))
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        return {"ok": False, "message": "The program has a syntax error on line %s: %s." % (error.lineno, error.msg)}
    node = find_function(tree, function)
    if node is None:
        return {"ok": False, "message": "No function named %s in the program." % function}
    try:
        positional, keywords = eval("__collect(\n%s\n)" % args, {"__collect": lambda *a, **k: (a, k)})
    except SyntaxError as error:
        return {"ok": False, "message": "The arguments %r are not a valid Python argument list: %s. Write them as in a "
                                        "call, e.g. --args \"[1, 2], 'a'\"." % (args, args_syntax_problem(args, error))}
    except Exception as error:
        return {"ok": False, "message": "Evaluating the arguments %r raised %s: %s." % (args, type(error).__name__, error)}
    try:
        bound = signature_of(node, source).bind(*positional, **keywords)
    except TypeError as error:
        return {"ok": False, "message": "The arguments do not fit %s: %s." % (function, error)}
    bound.apply_defaults()
    # f_locals order at the call event is co_varnames order: positional, keyword-only, then *args, then **kwargs.
    kinds = {p.name: p.kind for p in bound.signature.parameters.values()}
    rank = {inspect.Parameter.VAR_POSITIONAL: 1, inspect.Parameter.VAR_KEYWORD: 2}
    names = sorted(bound.arguments, key=lambda name: rank.get(kinds[name], 0))
    line = node.decorator_list[-1].end_lineno + 1 if node.decorator_list else node.lineno
    return {"ok": True, "line": line, "locals": [[name, bounded_repr(bound.arguments[name], limit)] for name in names]}


sys.stdout.write(json.dumps(main()))
