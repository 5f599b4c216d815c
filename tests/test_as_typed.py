"""What users type, as they type it, where they type it: compnb from a built wheel (not the editable clone) in a fresh
venv, used from a folder outside the repo; the README's `compnb`/`papermill` lines and every file in configs/ through
the real processes (conftest's fresh_venv: nothing is installed twice, the clone's editable compnb stays invisible)."""
import json, re, shlex, sqlite3, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import ROOT, fresh_venv, user_env
from test_quiet import NOISE

# The one place where typed commands are changed: on the sample, baseline-sized work (128→256 px, 9 epochs, 5 folds)
# shrinks to seconds. Appended after the typed options, so it wins as any later option does.
SHRINK = dict(size=32, epochs=2, fold=0)
# README placeholders → what runs here
HERE = {'/data/comp': 'sample', '20261126-101500-run': 'A'}
# README lines not run by this file, and why
NOT_HERE = {
    'compnb run --data data/bee_health --holdout 0.2 --size 128 --arch resnet18 --fold 0':
        'real data, resnet18 for minutes on 2 CPU cores; the bee_health chain is tests/test_bee_chain.py',
    'compnb run -f exp.yaml --loss focal': "exp.yaml stands for the user's own file; configs/ files run below",
    'compnb sweep --archs resnet18,convnext_nano,efficientnet_b0 --epochs 1 --data D':
        'three ImageNet-size backbones; sweep itself runs with tiny ones in tests/test_experiments.py',
    'papermill 04_infer.ipynb out.ipynb -p run_dir runs/A -p ckpts best+last2 -p scales "[224, 256]" -p runs runs/B':
        'needs two trained runs with keep_last 2; blends and best+last2 run in tests/test_infer.py',
}
NOT_HERE_PREFIX = {  # whole families
    'compnb tune': 'Optuna studies run as typed in tests/test_tune.py',
    'compnb compare --study': 'tests/test_tune.py',
    'compnb run -f runs/space/best.yaml': 'the best.yaml of a study: tests/test_tune.py',
    'compnb fetch': 'needs Kaggle credentials and the network',
    'compnb submit': 'needs Kaggle credentials and the network',
    'compnb pack': 'downloads wheels for Kaggle (the network); packing and the packed notebook: tests/test_kaggle.py',
    'compnb run --data data/<slug>': 'fetched Kaggle data and hub weights (the network)',
}


def readme_lines():
    "The `compnb …` and `papermill …` lines of the README's code blocks, without their comments"
    lines, inside = [], False
    for l in (ROOT/'README.md').read_text().splitlines():
        if l.startswith('```'): inside = not inside
        elif inside: lines.append(re.sub(r'\s+#.*$', '', l).strip())
    return [re.sub(r'\s+', ' ', l) for l in lines if l.startswith(('compnb ', 'papermill '))]


def stopped_in_03(ws):
    "runs/A as a run stopped during 03_train leaves it: fold 0 checkpointed but not finished, no 04 outputs yet"
    import shutil
    run = ws/'runs'/'A'
    shutil.rmtree(run/'infer')
    for f in ('model.json', 'metrics.json', 'oof.csv'): (run/'train'/f).unlink(missing_ok=True)
    (run/'train'/'fold0'/'oof.csv').unlink(missing_ok=True)

# the state a README line is meant for, where the lines before it leave another
BEFORE = {'compnb run --stages 03_train,04_infer --run_dir runs/A --resume true': stopped_in_03}


def not_here(line):
    return NOT_HERE.get(line) or next((v for k, v in NOT_HERE_PREFIX.items() if line.startswith(k)), None)


def as_here(line):
    "A README line pointed at the sample, with SHRINK appended where it trains at real-data sizes"
    for k, v in HERE.items(): line = line.replace(k, v)
    args = shlex.split(line)
    # what the README sizes for real data: a config's recipe, a stage at 512 px (the sample's own defaults are seconds)
    trains = args[0] == 'papermill' and '03_train' in args[1] or args[:2] == ['compnb', 'run'] and '-f' in args
    if trains: args += [a for k, v in SHRINK.items() for a in (('-p', k, str(v)) if args[0] == 'papermill'
                                                                 else (f'--{k}', str(v)))]
    return args


def build_wheel(out):
    "The compnb wheel built from this clone, as `pip wheel` would build it (with this venv's setuptools: offline)"
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w', str(out),
                    str(ROOT)], check=True, capture_output=True)
    return next(Path(out).glob('compnb-*.whl'))


@pytest.fixture(scope='module')
def wheel_bin(tmp_path_factory):
    "The bin folder of a fresh venv holding compnb from a wheel built from this clone"
    tmp = tmp_path_factory.mktemp('wheel')
    return fresh_venv(tmp/'venv', [build_wheel(tmp/'dist')]).parent


def config_used(run, config):
    "Each stage section of `config` reached its stage (params/<stage>.yaml), SHRINK's names aside"
    import yaml
    for stage, vals in yaml.safe_load(Path(config).read_text()).items():
        if not isinstance(vals, dict): continue
        used = yaml.safe_load((run/'params'/f'{stage}.yaml').read_text())
        for k, v in vals.items():
            if k not in SHRINK and v != 'auto':  # params/ holds what auto resolved to
                assert str(used[k]) == str(v), (config, stage, k, used[k], v)
    used = yaml.safe_load((run/'params'/'03_train.yaml').read_text())
    for k, v in SHRINK.items():  # the command line wins over the config's 03_train section
        assert used[k] in (v, [v]), (config, k, used[k], v)


def test_readme_lines_as_typed(wheel_bin, tmp_path):
    """Every README `compnb`/`papermill` line runs here, in README order, in a workspace (or is in NOT_HERE); then each
    file in configs/ the README does not name, as `compnb run -f configs/FILE --data sample`"""
    lines = readme_lines()
    assert lines[0].startswith('compnb init'), 'the README starts a competition with compnb init'
    stale = [k for k in NOT_HERE if k not in lines]
    assert not stale, f'NOT_HERE lists lines the README no longer has: {stale}'
    configs = sorted((ROOT/'configs').glob('*.yaml'))
    lines += [f'compnb run -f configs/{c.name} --data sample --run-dir runs/{c.stem}' for c in configs
              if not any(f'configs/{c.name}' in l for l in lines)]
    env, cwd, ran = user_env(wheel_bin/'python'), tmp_path, []
    probe = subprocess.run(['python', '-c', 'import compnb, compnb.core as c; print(compnb.__file__); '
                            'print(c.shipped("nbs")); print(compnb.__version__)'], cwd=cwd, env=env,
                           capture_output=True, text=True, check=True)
    pkg, shipped, version = map(Path, probe.stdout.split())
    venv = wheel_bin.parent  # compnb and its notebooks come from the wheel, not the clone
    assert pkg.is_relative_to(venv) and shipped.is_relative_to(venv) and (shipped/'03_train.ipynb').exists(), pkg
    for line in lines:
        if not_here(line): continue
        args = as_here(line)
        if line in BEFORE: BEFORE[line](cwd)
        before = set((cwd/'runs').glob('*')) if (cwd/'runs').is_dir() else set()
        t = time.time()
        r = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
        print(f'{time.time() - t:5.1f} s  {shlex.join(args)}')  # pytest shows it with -s or on failure
        assert r.returncode == 0, f'{line}\n{shlex.join(args)}\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}'
        ran.append(line)
        if args[:2] == ['compnb', 'init']: cwd = cwd/args[2]  # the README's next lines are typed in the workspace
        if args[:2] == ['compnb', 'params']: assert 'keep_last' in r.stdout
        if args[:2] == ['compnb', 'cache']: assert 'COMPNB_CACHE_MAX' in r.stdout and 'images: ' in r.stdout
        if args[:2] == ['compnb', 'compare']:  # 5-fold A beside 1-fold runs: not ranked together, and why
            assert 'fold(s) in its CV vs 5' in r.stdout and 'not ranked against it' in r.stdout, r.stdout
        if args[0] == 'compnb':  # `papermill` typed directly starts its kernel without compnb's settings
            assert not [w for w in NOISE if w in r.stdout + r.stderr], (line, r.stdout[-2000:], r.stderr[-2000:])
        if args[:3] == ['compnb', 'run', '-f'] and args[3].startswith('configs/'):
            run = cwd/args[args.index('--run-dir') + 1] if '--run-dir' in args else \
                  next(d for d in set((cwd/'runs').glob('*')) - before if d.is_dir())
            assert (run/'infer'/'submission.csv').exists(), line
            config_used(run, cwd/args[3])
    assert (cwd/'runs'/'A'/'infer'/'submission.csv').exists() and (cwd/'out.ipynb').exists()
    for st in ('01_eda', '02_split', '03_train', '04_infer'):  # the workspace's notebooks ran (papermill records it)
        src = json.loads((cwd/'runs'/'A'/f'{st}.ipynb').read_text())['metadata']['papermill']['input_path']
        assert Path(src) == cwd/f'{st}.ipynb', src
    with sqlite3.connect(cwd/'runs'/'ledger.db') as con:
        rows = con.execute("SELECT status, compnb, git_rev, git_dirty FROM runs WHERE run = 'A'").fetchall()
    # the kernels imported the wheel too: its version and no git state (the clone's would have a revision)
    assert len(rows) == 6 and set(rows) == {('ok', str(version), None, None)}, rows
    led = sqlite3.connect(cwd/'runs'/'ledger.db').execute('SELECT count(*) FROM lb').fetchone()[0]
    assert led == 1 and (cwd/'runs'/'cv_lb.png').exists()
    assert any(l.startswith('compnb run -f configs/') for l in ran) and len(ran) >= 7, ran
