# Flow facts for the symbolic checker (server/engine/flow-check.ts): per scope of a Python program, which line can
# follow which and which names can be local. Only parses and analyses (ast, symtable); the program never runs.
#
# Input on stdin: JSON {"sources": [text, ...]}. Output on stdout: JSON {"results": [facts or {"error": why}, ...]}.
# Runs as `python -I -S flow_facts.py` under any CPython 3.8-3.13; the facts over-approximate what every one of those
# versions may report (multi-line statements, loop heads, `with` exits, finally bodies, generator resumes...).
import ast
import json
import sys
import symtable

MAX_SOURCE_CHARS = 1000000
MAX_NODES = 20000
MAX_RELATION = 2000000
EXIT = -1

COMPREHENSIONS = {
    ast.ListComp: '<listcomp>', ast.SetComp: '<setcomp>', ast.DictComp: '<dictcomp>', ast.GeneratorExp: '<genexpr>',
}
SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef) + tuple(COMPREHENSIONS)
TRY_NODES = (ast.Try,) + ((ast.TryStar,) if hasattr(ast, 'TryStar') else ())
MATCH_NODE = getattr(ast, 'Match', None)
# Code that can add names to a frame's f_locals dict that no symbol table shows (exec into locals(), frame hacks).
LOCALS_ESCAPES = {'locals', 'vars', 'exec', 'eval', '_getframe', 'currentframe', 'f_locals', 'f_back', 'getframeinfo', 'stack'}


class TooLarge(Exception):
    pass


def span(node):
    end = getattr(node, 'end_lineno', None) or node.lineno
    return list(range(node.lineno, end + 1))


def first_line(node):
    decorators = getattr(node, 'decorator_list', None) or []
    return min([node.lineno] + [d.lineno for d in decorators])


def own_walk(node):
    """Nodes of one scope: does not descend into nested functions, lambdas, classes or comprehensions."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, SCOPE_NODES):
            stack.extend(ast.iter_child_nodes(child))


def is_generator(node):
    if isinstance(node, (ast.AsyncFunctionDef, ast.GeneratorExp)):
        return True
    return any(isinstance(child, (ast.Yield, ast.YieldFrom, ast.Await)) for child in own_walk(node))


class Ctx(object):
    """Where control goes from inside a block: exception targets, loop targets, enclosing finally/with exits."""

    def __init__(self, exc, loops, exits, guarded):
        self.exc = exc          # node ids an exception may reach in this frame (handlers, finally, with exits)
        self.loops = loops      # [(break targets, continue targets)] innermost last
        self.exits = exits      # finally entries and with exits that break/continue/return pass through
        self.guarded = guarded  # inside a try or with: returns and unwinding may report their lines

    def but(self, exc=None, loops=None, exits=None, guarded=None):
        return Ctx(self.exc if exc is None else exc, self.loops if loops is None else loops,
                   self.exits if exits is None else exits, self.guarded if guarded is None else guarded)


class FunctionFlow(object):
    """Statement-level flow graph of one function body; nodes carry the lines whose events they may report."""

    def __init__(self):
        self.lines = []     # per node: list of lines
        self.silent = []    # per node: may report no event at all (pass, docstring, constant test, try:, with exit)
        self.succ = []      # per node: set of node ids (EXIT = the frame ends)
        self.exc = []       # per node: set of node ids an exception may reach
        self.guarded = []   # per node: inside try/with
        self.jumps = []     # return, break and continue nodes, in creation order

    def node(self, lines, ctx, silent=False):
        if len(self.lines) >= MAX_NODES:
            raise TooLarge()
        self.lines.append(sorted(set(lines)))
        self.silent.append(silent)
        self.succ.append(set())
        self.exc.append(set(ctx.exc))
        self.guarded.append(ctx.guarded)
        return len(self.lines) - 1

    def block(self, stmts, follow, ctx):
        entry = set(follow)
        for stmt in reversed(stmts):
            entry = self.stmt(stmt, entry, ctx)
        return entry

    def stmt(self, s, follow, ctx):
        loop_targets = set()
        for brk, cont in ctx.loops:
            loop_targets |= brk | cont
        if isinstance(s, ast.If):
            head = self.node(range(s.lineno, s.test.end_lineno + 1), ctx, silent=isinstance(s.test, ast.Constant))
            body = self.block(s.body, follow, ctx)
            orelse = self.block(s.orelse, follow, ctx) if s.orelse else set(follow)
            self.succ[head] |= body | orelse
            return {head}
        if isinstance(s, ast.While):
            head = self.node(range(s.lineno, s.test.end_lineno + 1), ctx, silent=isinstance(s.test, ast.Constant))
            after = self.block(s.orelse, follow, ctx) if s.orelse else set(follow)
            inner = ctx.but(loops=ctx.loops + [(set(follow), {head})])
            body = self.block(s.body, {head}, inner)
            self.succ[head] |= body | after
            return {head}
        if isinstance(s, (ast.For, ast.AsyncFor)):
            end = max(s.iter.end_lineno, s.target.end_lineno)
            head = self.node(range(s.lineno, end + 1), ctx)
            after = self.block(s.orelse, follow, ctx) if s.orelse else set(follow)
            inner = ctx.but(loops=ctx.loops + [(set(follow), {head})])
            body = self.block(s.body, {head}, inner)
            self.succ[head] |= body | after
            return {head}
        if isinstance(s, (ast.With, ast.AsyncWith)):
            end = max(max(item.context_expr.end_lineno, (item.optional_vars or item.context_expr).end_lineno) for item in s.items)
            lines = range(s.lineno, end + 1)
            head = self.node(lines, ctx)
            # The exit (__exit__) reports the with line from 3.10, nothing before; break/continue/return pass through it.
            exit_node = self.node(lines, ctx, silent=True)
            self.succ[exit_node] |= set(follow) | loop_targets | {EXIT} | ctx.exc
            inner = ctx.but(exc=ctx.exc | {exit_node}, exits=ctx.exits | {exit_node}, guarded=True)
            jumps = len(self.jumps)
            body = self.block(s.body, {exit_node}, inner)
            # A return, break or continue inside may report its own line again once the exit ran (3.8).
            self.succ[exit_node] |= set(self.jumps[jumps:])
            self.succ[head] |= body | {exit_node}
            return {head}
        if isinstance(s, TRY_NODES):
            return self.try_stmt(s, follow, ctx, loop_targets)
        if MATCH_NODE is not None and isinstance(s, MATCH_NODE):
            head = self.node(range(s.lineno, s.subject.end_lineno + 1), ctx)
            cases = []
            bodies = set()
            for case in s.cases:
                last = case.guard if case.guard is not None else case.pattern
                cases.append(self.node(range(case.pattern.lineno, last.end_lineno + 1), ctx, silent=True))
                bodies |= self.block(case.body, follow, ctx)
            for case in cases:
                self.succ[case] |= set(cases) | bodies | set(follow)
            self.succ[head] |= set(cases) | bodies | set(follow)
            return {head}
        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # Decorators, defaults, annotations and bases run here; the body is another scope.
            end = s.body[0].lineno - 1 if s.body and s.body[0].lineno > s.lineno else s.lineno
            node = self.node(range(first_line(s), end + 1), ctx)
            self.succ[node] |= set(follow)
            return {node}
        # 3.8 and 3.9 thread a jump to a break or continue straight to its target: their lines may not report.
        silent = isinstance(s, (ast.Pass, ast.Global, ast.Nonlocal, ast.Break, ast.Continue)) or \
            (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)) or \
            (isinstance(s, ast.AnnAssign) and s.value is None)
        node = self.node(span(s), ctx, silent=silent)
        if isinstance(s, (ast.Return, ast.Break, ast.Continue)):
            self.jumps.append(node)
        if isinstance(s, ast.Return):
            self.succ[node] |= ctx.exits | {EXIT}
        elif isinstance(s, ast.Raise):
            self.succ[node] |= ctx.exc | {EXIT}
        elif isinstance(s, ast.Break) and ctx.loops:
            self.succ[node] |= ctx.loops[-1][0] | ctx.exits
        elif isinstance(s, ast.Continue) and ctx.loops:
            self.succ[node] |= ctx.loops[-1][1] | ctx.exits
        else:
            self.succ[node] |= set(follow)
        return {node}

    def try_stmt(self, s, follow, ctx, loop_targets):
        head = self.node([s.lineno], ctx, silent=True)
        final_entry = set()
        final_ctx = ctx
        if s.finalbody:
            # A finally body ends by going on, or by resuming a break, continue, return or exception that entered it.
            final_exit = self.node([], ctx, silent=True)
            self.succ[final_exit] |= set(follow) | loop_targets | {EXIT} | ctx.exc | ctx.exits
            final_entry = self.block(s.finalbody, {final_exit}, ctx)
            # The `finally:` keyword's lines (unknown to ast: between the last clause and the body) may report.
            previous = max(getattr(n, 'end_lineno', n.lineno) for n in s.body + s.handlers + s.orelse)
            keyword = self.node(range(previous + 1, s.finalbody[0].lineno + 1), ctx, silent=True)
            self.succ[keyword] |= final_entry
            final_entry = final_entry | {keyword}
            final_ctx = ctx.but(exc=ctx.exc | final_entry, exits=ctx.exits | final_entry, guarded=True)
        jumps = len(self.jumps)
        normal_follow = final_entry if s.finalbody else set(follow)
        headers = []
        for handler in s.handlers:
            end = handler.type.end_lineno if handler.type is not None else handler.lineno
            headers.append(self.node(range(handler.lineno, end + 1), final_ctx))
        for k, handler in enumerate(s.handlers):
            # `except E as e` clears e on its own line after the body (3.8-3.10 report it).
            cleanup = self.node(self.lines[headers[k]], final_ctx, silent=True)
            self.succ[cleanup] |= normal_follow
            handler_ctx = final_ctx.but(guarded=True)
            body = self.block(handler.body, {cleanup}, handler_ctx)
            self.succ[headers[k]] |= body | set(headers[k + 1:]) | final_ctx.exc | {EXIT}
        orelse = self.block(s.orelse, normal_follow, final_ctx.but(guarded=True)) if s.orelse else set(normal_follow)
        body_ctx = final_ctx.but(exc=final_ctx.exc | set(headers), guarded=True)
        body = self.block(s.body, orelse, body_ctx)
        self.succ[head] |= body
        if s.finalbody:
            # After the finally body, a return, break or continue that entered it reports its own line again (3.8).
            self.succ[final_exit] |= set(self.jumps[jumps:])
        return {head}


def closure(flow, targets, seen=None):
    """Lines a jump to `targets` may report next: their lines, and through nodes that may stay silent, what follows them."""
    out = set()
    seen = set() if seen is None else seen
    stack = list(targets)
    while stack:
        node = stack.pop()
        if node == EXIT or node in seen:
            continue
        seen.add(node)
        out.update(flow.lines[node])
        if flow.silent[node]:
            stack.extend(flow.succ[node])
    return out


def function_facts(node):
    flow = FunctionFlow()
    ctx = Ctx(set(), [], set(), False)
    body = flow.block(node.body, {EXIT}, ctx)
    call_lines = list(range(first_line(node), node.lineno + 1))
    prologue = flow.node(call_lines, ctx, silent=True)
    flow.succ[prologue] |= body
    if sum(len(lines) ** 2 for lines in flow.lines) > MAX_RELATION:
        # Statements thousands of lines long (a data literal): the line relation would be huge; lines alone are checked.
        return {'owned': sorted({line for lines in flow.lines for line in lines})}
    by_line = {}
    for index, lines in enumerate(flow.lines):
        for line in lines:
            by_line.setdefault(line, []).append(index)
    next_lines = {}
    exc_lines = {}
    guarded = set()
    for line, nodes in by_line.items():
        nxt = set()
        exc = set()
        for index in nodes:
            nxt.update(flow.lines[index])
            nxt |= closure(flow, flow.succ[index])
            exc |= closure(flow, flow.exc[index])
            if flow.guarded[index]:
                guarded.add(line)
        next_lines[line] = nxt
        exc_lines[line] = exc | nxt
    last = node.body[-1]
    tail = sorted(line for line in by_line if last.lineno <= line <= (last.end_lineno or last.lineno))
    return {
        'owned': sorted(by_line),
        'afterCall': sorted(closure(flow, {prologue})),
        'next': {str(k): sorted(v) for k, v in next_lines.items()},
        'afterException': {str(k): sorted(v) for k, v in exc_lines.items()},
        'guarded': sorted(guarded),
        'tail': tail,
    }


class Units(object):
    def __init__(self, tree, source):
        self.units = []
        self.tables = {}
        try:
            self.collect_tables(symtable.symtable(source, '<program>', 'exec'))
        except Exception:
            self.tables = None
        escapes = any((isinstance(n, ast.Name) and n.id in LOCALS_ESCAPES) or
                      (isinstance(n, ast.Attribute) and n.attr in LOCALS_ESCAPES) for n in ast.walk(tree))
        self.locals_checked = not escapes and self.tables is not None
        self.visit(tree, False)

    def collect_tables(self, table):
        key = (table.get_type(), table.get_name(), table.get_lineno())
        self.tables.setdefault(key, []).append(table)
        for child in table.get_children():
            self.collect_tables(child)

    def names_of(self, kind, name, lineno, node, in_class):
        if not self.locals_checked:
            return None
        tables = self.tables.get((kind, name, lineno))
        if not tables:
            return None
        names = set()
        for table in tables:
            for symbol in table.get_symbols():
                # f_locals holds the fast locals, cells and free variables (symtable lists pass-through frees too).
                if symbol.is_local() or symbol.is_free() or symbol.is_parameter():
                    names.add(symbol.get_name())
        # 3.12+ inline comprehensions (PEP 709): their variables show in this frame while they run.
        for child in own_walk(node):
            if isinstance(child, tuple(COMPREHENSIONS)):
                for inner in ast.walk(child):
                    if isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
                        names.add(inner.id)
        if in_class:
            names.add('__class__')
        return sorted(names)

    def visit(self, node, in_class):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                unit = {
                    'kind': 'function', 'names': [child.name],
                    'callLines': list(range(first_line(child), child.lineno + 1)),
                    'generator': is_generator(child),
                    'locals': self.names_of('function', child.name, child.lineno, child, in_class),
                }
                unit.update(function_facts(child))
                if unit['generator']:
                    unit['callLines'] = sorted(set(unit['callLines']) | set(unit['owned']))
                self.units.append(unit)
                self.visit(child, False)
            elif isinstance(child, ast.Lambda):
                lines = span(child)
                self.units.append({'kind': 'lambda', 'names': ['<lambda>'], 'callLines': lines, 'owned': lines,
                                   'generator': is_generator(child),
                                   'locals': self.names_of('function', 'lambda', child.lineno, child, False)})
                self.visit(child, False)
            elif isinstance(child, tuple(COMPREHENSIONS)):
                lines = span(child)
                name = COMPREHENSIONS[type(child)]
                self.units.append({'kind': 'comprehension', 'names': [name], 'callLines': lines, 'owned': lines,
                                   'generator': True,
                                   'locals': self.names_of('function', name.strip('<>'), child.lineno, child, False)})
                self.visit(child, False)
            elif isinstance(child, ast.ClassDef):
                self.units.append({'kind': 'class', 'names': [child.name],
                                   'callLines': list(range(first_line(child), child.lineno + 1)),
                                   'owned': span(child), 'generator': False, 'locals': None})
                self.visit(child, True)
            else:
                self.visit(child, in_class)


def facts_of(source):
    if len(source) > MAX_SOURCE_CHARS:
        return {'error': 'the program is longer than %d characters' % MAX_SOURCE_CHARS}
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        return {'error': 'Python %d.%d cannot parse the program: %s' % (sys.version_info[0], sys.version_info[1], error)}
    try:
        units = Units(tree, source)
    except TooLarge:
        return {'error': 'the program has more than %d statements' % MAX_NODES}
    except RecursionError:
        return {'error': 'the program nests too deeply'}
    return {'python': '%d.%d' % sys.version_info[:2], 'units': units.units}


def main():
    request = json.loads(sys.stdin.buffer.read().decode('utf-8', 'replace'))
    results = [facts_of(source) if isinstance(source, str) else {'error': 'not a text'} for source in request.get('sources', [])]
    sys.stdout.write(json.dumps({'results': results}))
    sys.stdout.flush()


if __name__ == '__main__':
    main()
