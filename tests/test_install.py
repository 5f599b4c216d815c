"""compnb as users get it: a built wheel (not the editable clone) in a fresh venv, used from a folder outside the repo.
torch, fastai and the rest come from this venv's site-packages (a path line in a .pth file, which does not load that
folder's own .pth files, so the clone's editable install stays invisible): nothing is installed twice."""
import json, os, site, sqlite3, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT


def build_wheel(out):
    "The compnb wheel built from this clone, as `pip wheel` (and PyPI) would build it"
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '-q', '-w', str(out), str(ROOT)], check=True,
                   capture_output=True)
    return next(Path(out).glob('compnb-*.whl'))


def fresh_venv(path, wheels=()):
    "A new venv that sees this venv's packages except compnb, with `wheels` installed into it; its bin folder"
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(path)], check=True)
    sp = next(Path(path).glob('lib/python*/site-packages'))
    (sp/'_base_packages.pth').write_text('\n'.join(site.getsitepackages()) + '\n')
    py = Path(path)/'bin'/'python'
    for w in wheels:  # this venv's pip installs into the new one (--python), so the new one needs no pip of its own
        subprocess.run([sys.executable, '-m', 'pip', '--python', str(py), 'install', '-q', '--no-index', '--no-deps',
                        str(w)], check=True, capture_output=True)
    return Path(path)/'bin'


def clean_env(bin_dir, **kw):
    "The environment of a user's shell with `bin_dir` first: no test-only compnb variables, no PYTHONPATH"
    drop = ('PYTHONPATH', 'COMPNB_RUNS', 'COMPNB_NBS', 'IN_TEST', 'VIRTUAL_ENV')
    env = {k: v for k, v in os.environ.items() if k not in drop}
    return dict(env, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", **kw)


def test_wheel_init_and_run_outside_the_repo(tmp_path):
    "`compnb init ws --data sample && cd ws && compnb run --data sample` from a wheel: a submission, no repo nbs/"
    bin_dir = fresh_venv(tmp_path/'venv', [build_wheel(tmp_path/'dist')])
    env, home = clean_env(bin_dir), tmp_path/'home'
    home.mkdir()
    probe = subprocess.run([str(bin_dir/'python'), '-c', 'import compnb, compnb.core as c; print(compnb.__file__); '
                            'print(c.shipped("nbs")); print(compnb.__version__)'], cwd=home, env=env, capture_output=True, text=True, check=True)
    pkg, shipped, version = probe.stdout.split()
    assert Path(pkg).is_relative_to(tmp_path/'venv') and not Path(pkg).is_relative_to(ROOT), pkg
    assert (Path(shipped)/'03_train.ipynb').exists() and Path(shipped).is_relative_to(tmp_path/'venv')
    sh = lambda cmd, cwd: subprocess.run(cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True)
    r = sh('compnb init ws --data sample && cd ws && compnb run --data sample', home)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    ws = home/'ws'
    subs = list((ws/'runs').glob('*/infer/submission.csv'))
    assert len(subs) == 1 and len(subs[0].read_text().splitlines()) > 100
    run = subs[0].parent.parent
    for s in ('01_eda', '02_split', '03_train', '04_infer'):  # papermill records the notebook it executed
        src = json.loads((run/f'{s}.ipynb').read_text())['metadata']['papermill']['input_path']
        assert Path(src) == ws/f'{s}.ipynb', src
    with sqlite3.connect(ws/'runs'/'ledger.db') as con:
        rows = con.execute('SELECT stage, status, compnb, git_rev, git_dirty FROM runs').fetchall()
    assert [r[:2] for r in rows] == [(s, 'ok') for s in ('01_eda', '02_split', '03_train', '04_infer')]
    assert {r[2:] for r in rows} == {(version, None, None)}  # an installed wheel: its version, no git state
    assert not (ROOT/'runs').exists() or not any((ROOT/'runs').glob(f'{run.name}*'))
