"Every stage notebook keeps exactly one `parameters` cell through nbdev_clean, and papermill can read it."
import json, shutil, subprocess, sys
from pathlib import Path
import pytest
from conftest import NBS, ROOT, STAGES


def test_one_parameters_cell_after_clean(tmp_path):
    for s in STAGES: shutil.copy(NBS/f'{s}.ipynb', tmp_path/f'{s}.ipynb')
    bin_dir = Path(sys.executable).parent
    for s in STAGES:  # run from the repo so nbdev reads settings.ini (allowed_cell_metadata_keys = tags)
        subprocess.run([str(bin_dir/'nbdev_clean'), '--fname', str(tmp_path/f'{s}.ipynb')], cwd=ROOT, check=True)
    for s in STAGES:
        nb = json.loads((tmp_path/f'{s}.ipynb').read_text())
        tagged = [c for c in nb['cells'] if 'parameters' in c.get('metadata', {}).get('tags', [])]
        assert len(tagged) == 1, f'{s}: {len(tagged)} parameters cells'
        assert tagged[0]['cell_type'] == 'code'


@pytest.mark.parametrize('stage', STAGES)
def test_parameters_are_typed_and_documented(stage):
    import papermill as pm
    params = pm.inspect_notebook(str(NBS/f'{stage}.ipynb'))
    assert 'data' in params and 'run_dir' in params
    for name, p in params.items():
        assert p['inferred_type_name'] != 'None', f'{stage}.{name} has no type annotation'
        assert p['help'], f'{stage}.{name} has no help comment'


def imports_only(src):
    "True for a cell of import statements only"
    import ast
    return all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.parse(src).body)


@pytest.mark.parametrize('stage', STAGES + ['05_experiments'])
def test_test_cells_skip_in_headless_runs(stage):
    "Code cells above `parameters` are imports or carry nbclient's `skip-execution` tag (papermill skips those)"
    cells = json.loads((NBS/f'{stage}.ipynb').read_text())['cells']
    pi = next(i for i, c in enumerate(cells) if 'parameters' in c['metadata'].get('tags', []))
    for c in cells[:pi]:
        src = ''.join(c['source']).lstrip()
        if c['cell_type'] != 'code' or src.startswith(('#| export', '#| default_exp', '#| hide')): continue
        if imports_only(src): continue
        assert 'skip-execution' in c['metadata'].get('tags', []), \
            f'{stage}: test cell {src[:60]!r} lacks the skip-execution tag (headless runs would execute it)'


def cell_names(src):
    "The names a parameters cell assigns, read by Python's own parser"
    import ast
    out = []
    for n in ast.parse(src).body:
        if isinstance(n, ast.AnnAssign): out.append(n.target.id)
        elif isinstance(n, ast.Assign): out += [t.id for t in n.targets if isinstance(t, ast.Name)]
    return out


@pytest.mark.parametrize('stage', STAGES + ['05_experiments'])
def test_papermill_sees_every_parameter(stage, caplog):
    """papermill's own inspection (what `--help-notebook`, `compnb params` and the runner use) lists every name the
    parameters cell assigns, and does not warn 'Unable to parse' (a help comment with `=` hides its line)"""
    import logging, papermill as pm
    cells = json.loads((NBS/f'{stage}.ipynb').read_text())['cells']
    src = next(''.join(c['source']) for c in cells if 'parameters' in c['metadata'].get('tags', []))
    with caplog.at_level(logging.WARNING, logger='papermill'): seen = pm.inspect_notebook(str(NBS/f'{stage}.ipynb'))
    assert list(seen) == cell_names(src), f'{stage}: papermill misses {sorted(set(cell_names(src)) - set(seen))}'
    assert not [r for r in caplog.records if 'Unable to parse' in r.getMessage()]
