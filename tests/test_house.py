"""House rules checked: no import cycle between compnb modules (function-local imports count), lines ≤ 120
characters, modules ≤ 400 lines, and each stage notebook opens with its parameters."""
import ast, json, re
from pathlib import Path
from conftest import ROOT, NBS, STAGES

PKG = ROOT/'compnb'
MODULES = sorted(p for p in PKG.glob('*.py') if p.name not in ('__init__.py', '_modidx.py'))


def imports_of(path):
    "compnb modules imported anywhere in `path` (top level and inside functions)"
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:  # nbdev writes `from .core import *`
            out.add(node.module.split('.')[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith('compnb.'):
            out.add(node.module.split('.')[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('compnb.')}
    return out - {path.stem}


def find_cycle(graph):
    "A cycle in `graph` as a list of nodes, or None"
    state, stack = {}, []
    def visit(n):
        state[n] = 'open'
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 'open': return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)): return c
        state[n] = 'done'
        stack.pop()
    for n in sorted(graph):
        if n not in state and (c := visit(n)): return c


def test_imports_found(tmp_path):
    (tmp_path/'m.py').write_text('from .core import *\ndef f():\n    from compnb.train import fit_folds\n'
                                 '    import compnb.oof\n')
    assert imports_of(tmp_path/'m.py') == {'core', 'train', 'oof'}


def test_find_cycle_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_no_import_cycle():
    graph = {p.stem: imports_of(p) for p in MODULES}
    assert find_cycle(graph) is None, f'import cycle: {" → ".join(find_cycle(graph))}'


def test_modules_follow_notebook_order():
    "A module imports only modules whose notebooks sort before its own"
    order = {}
    for nb in sorted(NBS.glob('*.ipynb')):
        m = re.search(r'#\| default_exp (\w+)', nb.read_text())
        if m: order[m[1]] = nb.stem
    for p in MODULES:
        for dep in imports_of(p):
            assert order[dep] < order[p.stem], f'{p.stem} ({order[p.stem]}) imports {dep} ({order[dep]})'


def own_lines(path):
    """(number, line) of a module, less the first line of nbdev's `__all__` statement: nbdev 2.4.14 wraps the list at
    120 columns before it prepends `__all__ = `, so that line can reach 130. compnb/ must be exactly what
    nbdev_export writes, so it is not rewrapped; every other line, `__all__`'s continuations included, is checked."""
    return [(i, l) for i, l in enumerate(path.read_text().splitlines(), 1) if not l.startswith('__all__ = [')]


def test_line_and_module_lengths():
    long = [f'{p.name}:{i}' for p in MODULES for i, l in own_lines(p) if len(l) > 120]
    assert not long, f'lines over 120 characters: {long[:10]}'
    big = [f'{p.name} ({n})' for p in MODULES if (n := len(p.read_text().splitlines())) > 400]
    assert not big, f'modules over 400 lines: {big}'
    for nb in sorted(NBS.glob('*.ipynb')):
        for c in json.loads(nb.read_text())['cells']:
            if c['cell_type'] == 'code':
                assert all(len(l) <= 120 for l in ''.join(c['source']).splitlines()), f'{nb.name}: a code line over 120'


def test_stage_notebooks_open_with_parameters():
    for s in STAGES:
        cells = json.loads((NBS/f'{s}.ipynb').read_text())['cells']
        pi = next(i for i, c in enumerate(cells) if 'parameters' in c['metadata'].get('tags', []))
        assert pi < 12 and len(cells) <= 30, (s, pi, len(cells))
        assert cells[1]['cell_type'] == 'markdown' and 'Use it' in ''.join(cells[1]['source']), s
        if s == '04_infer':
            sizes = [len(''.join(c['source']).splitlines()) for c in cells[pi + 1:] if c['cell_type'] == 'code']
            assert max(sizes) <= 15, sizes
