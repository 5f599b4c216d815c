import atexit, os, site, sys, subprocess, types
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
SHARED = ROOT.parent/'shared'/'data'
BEE, CLOTHING = SHARED/'bee_health', SHARED/'clothing10'
STAGES = ['01_eda', '02_split', '03_train', '04_infer']
COMPNB = str(Path(sys.executable).parent/'compnb')  # the console script of this venv
os.environ['COMPNB_HEADLESS'] = '1'


def run_nb(name, run_dir, **params):
    "Execute nbs/<name>.ipynb headless with papermill into run_dir/<name>.ipynb (the kernel is a fresh process)"
    import papermill as pm
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    out = Path(run_dir)/f'{name}.ipynb'
    pm.execute_notebook(str(NBS/f'{name}.ipynb'), str(out), parameters=dict(run_dir=str(run_dir), **params),
                        cwd=str(NBS), progress_bar=False, kernel_name='python3')
    return out


@pytest.fixture
def runs(tmp_path, monkeypatch):
    "Isolated runs root (ledger included)"
    monkeypatch.setenv('COMPNB_RUNS', str(tmp_path/'runs'))
    return tmp_path/'runs'


SCRIPTS = {'papermill': 'papermill.__main__:papermill'}  # commands of the shared packages that users type

def fresh_venv(path, wheels=()):
    """A new venv at `path` that sees this venv's packages (torch, timm, fastai, pandas, papermill: what a user or
    Kaggle's image already has) through a plain path line in a .pth file. Python does not read the .pth files of a
    folder added that way, so the clone's editable compnb stays out: compnb comes only from `wheels` installed into
    it. Nothing is installed twice. Returns its python; its bin/ has the `papermill` command too."""
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(path)], check=True)
    py = Path(path)/'bin'/'python'
    lib = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                         capture_output=True, text=True, check=True).stdout.strip()
    Path(lib, 'base_packages.pth').write_text(''.join(f'{p}\n' for p in site.getsitepackages() if Path(p).is_dir()))
    for name, target in SCRIPTS.items():  # as pip writes console scripts: run by the new venv's python
        mod, fn = target.split(':')
        f = py.parent/name
        f.write_text(f'#!{py}\nimport sys\nfrom {mod} import {fn}\nsys.exit({fn}())\n')
        f.chmod(0o755)
    if wheels:  # -I: pip would count the editable compnb it sees behind the .pth as installed
        subprocess.run([str(py), '-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '-I', *map(str, wheels)],
                       check=True, capture_output=True)
    return py


def user_env(py, **kw):
    """A user's shell with `py`'s venv first on PATH: no PYTHONPATH or test-only compnb variables, and Jupyter kernels
    only from that venv (a user-level `python3` kernelspec would run another Python)"""
    drop = ('PYTHONPATH', 'COMPNB_RUNS', 'COMPNB_NBS', 'IN_TEST', 'VIRTUAL_ENV')
    env, venv = {k: v for k, v in os.environ.items() if k not in drop}, Path(py).parent.parent
    return dict(env, PATH=f"{venv/'bin'}{os.pathsep}{env.get('PATH', '')}", JUPYTER_DATA_DIR=str(venv/'share'/'jupyter'),
                **kw)


def need(path):
    if not path.exists(): pytest.skip(f'{path} not found (../shared data sets)')
    return path


def exec_nb(name, run_dir=None, save=True, **params):
    """Execute nbs/<name>.ipynb in this process, as nbdev_test does (execnb), with `params` set after its
    parameters cell; the executed copy goes to run_dir/<name>.ipynb. For tests of what a stage does; the tests of
    papermill's own path (headless jobs, the CLI, torchrun, kills) run it for real."""
    from execnb.nbio import read_nb, write_nb
    from execnb.shell import CaptureShell
    from fastcore.xtras import working_directory
    nb = read_nb(NBS/f'{name}.ipynb')
    i = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
    ps = dict(params, **({'run_dir': str(run_dir)} if run_dir else {}))
    inject = nb.cells[i].source + '\n# injected\n' + '\n'.join(f'{k} = {v!r}' for k, v in ps.items())
    shell = CaptureShell()
    try:
        with working_directory(NBS): shell.run_all(nb, exc_stop=True, inject_code=inject, inject_idx=i)
    finally:
        # IPython's exit hook would reset each shell with a full gc.collect() over the whole session's heap
        # (measured: half a minute at the end of the suite); drop the namespace now and skip the hook
        atexit.unregister(shell.atexit_operations)
        shell.user_ns.clear()
        if save and run_dir:
            Path(run_dir).mkdir(parents=True, exist_ok=True)
            write_nb(nb, Path(run_dir)/f'{name}.ipynb')
    return nb


# --- runs shared by the session's tests: trained once, read by many ---------------------------------------------

@pytest.fixture(scope='session')
def sample_pair(tmp_path_factory):
    """Two `compnb run` at once on the sample (the CLI, papermill, one runs root): A trains fold 0 for 3 epochs with
    TTA orig+hflip (--quiet), B fold 1 for 1 epoch (streaming its notebooks' output). Each command's stdout and stderr
    go to `logs` (a.log, b.log). The ledger is read right after both finish."""
    root = tmp_path_factory.mktemp('pair')
    # two runs on 2 cores oversubscribe OpenMP; passive waiting is what README advises for concurrent runs
    env = dict(os.environ, COMPNB_RUNS=str(root), OMP_WAIT_POLICY='PASSIVE')
    a, b, logs = root/'run', root/'other', [root/'a.log', root/'b.log']
    cmds = [[COMPNB, 'run', '--run_dir', str(a), '--fold', '0', '--epochs', '3', '--tta', 'orig,hflip', '--quiet'],
            [COMPNB, 'run', '--run_dir', str(b), '--fold', '1', '--epochs', '1']]
    with logs[0].open('w') as la, logs[1].open('w') as lb:
        ps = [subprocess.Popen(c, env=env, stdout=f, stderr=subprocess.STDOUT) for c, f in zip(cmds, (la, lb))]
        codes = [p.wait(timeout=600) for p in ps]
    from compnb.ledger import read_ledger
    return types.SimpleNamespace(root=root, a=a, b=b, codes=codes, logs=logs, ledger=read_ledger(root))


@pytest.fixture(scope='session')
def sample_run(sample_pair):
    "A sample run with every stage executed by `compnb run` (fold 0 trained)"
    assert sample_pair.codes[0] == 0, sample_pair.logs[0].read_text()[-3000:]
    return sample_pair.a


@pytest.fixture(scope='session')
def bee_run(tmp_path_factory):
    """bee_health 01 → 04 with a holdout as test set: 2 group folds, all trained, progressive 32 → 48 px, 1 + 2
    epochs (resnet10t from scratch; bees seen from above: flips and 90° turns keep the label, so `quick+d4`), 04 with
    the last-2 checkpoint ensemble"""
    need(BEE)
    run, P = tmp_path_factory.mktemp('bee')/'run', dict(data=str(BEE), holdout=0.2)
    exec_nb('01_eda', run, **P)
    exec_nb('02_split', run, **P, n_folds=2)
    exec_nb('03_train', run, **P, sizes='[32, 48]', epochs='[1, 2]', arch='resnet10t', pretrained=False, lr=1e-2,
            aug='quick+d4', keep_last=2)
    exec_nb('04_infer', run, **P, ckpts='last2')
    return run
