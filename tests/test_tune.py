"""`compnb tune` on the sample: a 6-trial study on 2 worker processes with a clearly bad lr (pruned), two processes
joining one study at once, and a worker killed mid-trial whose trial is failed and retried when the command is re-run.
The later studies reuse the first one's split (a study makes its split only when its folder has none). The 6-trial
study searches epochs too, the first thing a competitor searches; README's space.yaml runs as typed."""
import os, re, shutil, signal, subprocess, time, types
from pathlib import Path
import pandas as pd, pytest
from conftest import COMPNB, ROOT
from compnb.core import load_yaml
from compnb.ledger import read_ledger
from compnb.runner import STAGES, load_config, check_params, declared

ENV = dict(OMP_WAIT_POLICY='PASSIVE')  # concurrent trainings on a small CPU (README)


def sh(root, *args):
    return subprocess.Popen([COMPNB, *map(str, args)], env=dict(os.environ, COMPNB_RUNS=str(root), **ENV),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(p, timeout=400):
    out, _ = p.communicate(timeout=timeout)
    assert p.returncode == 0, out[-3000:]
    return out


def load(root, name):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name, storage=f'sqlite:///{root}/optuna.db')


def tune_rows(root, name):
    led = read_ledger(root/name)
    return led[led.stage == 'tune']


def with_split(six, root, name):
    "A study folder holding the first study's split, so this study makes none"
    shutil.copytree(six.root/'space'/'split', root/name/'split')


@pytest.fixture(scope='module')
def six(tmp_path_factory):
    """compnb tune -f space.yaml --trials 6 --workers 2 with epochs searched (issue #24: the report's own columns, epochs
    among them, collided with searched names), lr 1e-2 or 1e3: each worker samples 1e-2 (2 epochs), 1e-2 (4), then 1e3,
    so the bad lr starts after good trials finished; the median pruner stops it (and may stop a slow good one) after
    its first epoch. (Seeds checked by replaying TPESampler's draws in the space's order.)"""
    root = tmp_path_factory.mktemp('tune')/'runs'
    space = root.parent/'space.yaml'
    space.write_text('lr: choice(1e-2, 1e3)\nmixup: uniform(0, 0.4)\nepochs: choice(2, 4)\nn_folds: 3\n'
                     'pruner: {n_startup_trials: 1, n_warmup_steps: 0}\nsampler: {seed: 116}\n')
    out = finish(sh(root, 'tune', '-f', space, '--trials', 6, '--workers', 2))
    return types.SimpleNamespace(root=root, space=space, out=out, study=load(root, 'space'))


def test_six_trials_two_workers(six, capsys, monkeypatch):
    states = {t.number: t.state.name for t in six.study.trials}
    assert sorted(states) == list(range(6)) and set(states.values()) <= {'COMPLETE', 'PRUNED'}, states
    rows = tune_rows(six.root, 'space')
    assert sorted(r['trial'] for r in rows.params) == list(range(6))  # one ledger row per trial
    status = {r.params['trial']: r.status for r in rows.itertuples()}
    assert status == {n: {'COMPLETE': 'ok', 'PRUNED': 'pruned'}[s] for n, s in states.items()}
    assert {'lr', 'mixup', 'epochs', 'study', 'trial'} <= set(rows.params.iloc[0])
    for t in six.study.trials:  # each trial trains the epochs it drew, as `compnb run --epochs N` would
        trained = load_yaml(six.root/'space'/f'trial-{t.number:04d}'/'params'/'03_train.yaml')
        assert trained['epochs'] == [t.params['epochs']] and trained['lrs'] == [t.params['lr']]
        if t.state.name == 'COMPLETE': assert sorted(t.intermediate_values) == list(range(t.params['epochs']))
    assert {2, 4} == {t.params['epochs'] for t in six.study.trials}
    table = pd.read_csv(six.root/'space'/'trials.csv').set_index('trial')
    assert {'epochs', 'params_epochs', 'params_lr'} <= set(table.columns)
    assert all(table.loc[t.number, 'params_epochs'] == t.params['epochs'] for t in six.study.trials)
    folder = six.root/'space'
    for f in ('trials.csv', 'importance.csv', 'history.png', 'best.yaml', 'split/folds.csv'): assert (folder/f).exists()
    assert list(read_ledger(six.root).stage) == ['02_split']  # the split made once, in the study folder
    best = load_config(folder/'best.yaml')
    check_params(best, STAGES)  # what compnb run -f best.yaml checks before it runs anything
    assert declared('03_train', best)['lr'] == six.study.best_trial.params['lr'] == 0.01
    assert load_yaml(folder/'best.yaml')['03_train'] == six.study.best_trial.params
    assert 'trials: ' in six.out and 'best.yaml' in six.out
    from compnb.cli import main
    capsys.readouterr()
    assert main(['compare', '--study', 'space', '--root', str(six.root)]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 7 and out.split()[:3] == ['rank', 'trial', 'state']
    monkeypatch.setenv('COMPNB_RUNS', str(six.root))
    assert main(['tune', '-f', str(six.space), '--trials', '6']) == 0  # again: the study is done, nothing runs
    assert len(load(six.root, 'space').trials) == 6 and len(tune_rows(six.root, 'space')) == 6


def test_bad_lr_pruned(six):
    trials = six.study.trials
    bad = [t.number for t in trials if t.params['lr'] == 1e3]
    assert bad and all(trials[n].state.name == 'PRUNED' for n in bad), six.out[-3000:]  # never trains to the end
    led = read_ledger(six.root/'space')
    own = led[(led.stage == '03_train') & led.run.isin([f'trial-{n:04d}' for n in bad])]
    assert (own.status == 'pruned').sum() == len(bad) and own.error.str.startswith('TrialPruned').all()
    assert len(own) == len(bad)  # and no second, 'failed' row from the runner


def test_two_processes_join_one_study(six, tmp_path):
    root, space = tmp_path/'runs', tmp_path/'two.yaml'
    space.write_text('lr: loguniform(3e-3, 1e-2)\nepochs: 1\nn_folds: 3\npruner: none\n')
    with_split(six, root, 'two')
    outs = [finish(p) for p in [sh(root, 'tune', '-f', space, '--trials', 2) for _ in range(2)]]  # at once
    study = load(root, 'two')
    assert sorted(t.number for t in study.trials) == [0, 1]  # 2, not 4: both count the study's trials
    assert {t.state.name for t in study.trials} == {'COMPLETE'}
    rows = tune_rows(root, 'two')
    assert sorted(r['trial'] for r in rows.params) == [0, 1] and set(rows.status) == {'ok'}
    led = read_ledger(root/'two')
    assert sorted(led[led.stage == '03_train'].run) == [f'trial-{n:04d}' for n in range(2)]
    assert all(': COMPLETE' in o for o in outs), outs  # both processes ran trials


def test_killed_worker_trial_failed_and_retried(six, tmp_path):
    root, space = tmp_path/'runs', tmp_path/'kill.yaml'
    space.write_text('lr: choice(3e-3, 1e-2)\nepochs: 1\nn_folds: 3\n')
    with_split(six, root, 'kill')
    p = sh(root, 'tune', '-f', space, '--trials', 1, '--heartbeat', 1)
    started = root/'kill'/'trial-0000'/'params'/'03_train.yaml'  # mid-trial: 03_train checked its inputs
    for _ in range(600):
        if started.exists() or p.poll() is not None: break
        time.sleep(0.1)
    assert p.poll() is None, p.communicate()[0][-3000:]
    p.send_signal(signal.SIGKILL)
    p.wait()
    out = finish(sh(root, 'tune', '-f', space, '--trials', 1, '--heartbeat', 1))  # resumes: fails trial 0, retries it
    assert 'trial 0: no heartbeat' in out, out[-3000:]
    t0, t1 = load(root, 'kill').trials
    assert (t0.state.name, t1.state.name) == ('FAIL', 'COMPLETE')
    assert t1.params == t0.params and t1.system_attrs['failed_trial'] == 0  # the same values, queued again
    rows = tune_rows(root, 'kill').set_index('run')
    assert rows.loc['trial-0000', 'status'] == 'failed' and 'worker lost' in rows.loc['trial-0000', 'error']
    assert rows.loc['trial-0001', 'status'] == 'ok' and len(rows) == 2


def readme_space():
    "The space.yaml of README's tuning section, as a reader copies it"
    text = (ROOT/'README.md').read_text()
    return re.search(r'`space\.yaml` is a `compnb run -f` config[^\n]*\n\n```yaml\n(.*?)```', text, re.S)[1]


SHRINK = ['--size', '32', '--epochs', '1', '--arch', 'test_resnet']  # the sample's work in seconds (the line wins)

def test_readme_space_runs(tmp_path):
    """README's space.yaml, as typed, where data/bee_health is the sample: one trial through `compnb tune`, its searched
    size fixed to the sample's 32 px, its resnet18 and epochs shrunk on the command line (the line wins over the space)"""
    from compnb.sample import make_sample
    (tmp_path/'data').mkdir()
    (tmp_path/'data'/'bee_health').symlink_to(make_sample())
    (tmp_path/'space.yaml').write_text(readme_space())
    p = subprocess.Popen([COMPNB, 'tune', '-f', 'space.yaml', '--trials', '1', *SHRINK], cwd=tmp_path,
                         env=dict(os.environ, COMPNB_RUNS=str(tmp_path/'runs'), **ENV), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    out = finish(p)
    (t,) = load(tmp_path/'runs', 'space').trials
    assert t.state.name == 'COMPLETE' and set(t.params) == {'lr', 'aug', 'mixup'}, out[-3000:]
    best = load_yaml(tmp_path/'runs'/'space'/'best.yaml')
    assert (best['arch'], best['size'], best['epochs'], best['02_split']) == ('test_resnet', 32, 1, {'n_folds': 5})


def kill_tree(p):
    "SIGKILL a worker and every process under it (its trial's kernel too), as a machine lost would stop them"
    import psutil
    procs = [p_ for p_ in psutil.Process(p.pid).children(recursive=True)] + [psutil.Process(p.pid)]
    for q in procs:
        try: q.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess: pass
    p.wait()


def test_postgres_two_machines_one_killed(six, tmp_path, pg_url):
    """Two `compnb tune --storage postgresql://…` workers, each with its own run root as two machines have, join one
    study on a real PostgreSQL server (conftest's pg_url). A finishes a trial, then is SIGKILLed (with its kernel) in its
    second; B fails that trial (heartbeat) and reruns it with the same values. The study ends with exactly 3 finished
    trials, each with its ledger row in the run root that ran it, and B's report sees A's trials too."""
    from compnb.study import compare_study
    import optuna
    space, roots, N = tmp_path/'pg.yaml', [tmp_path/'a'/'runs', tmp_path/'b'/'runs'], 3
    space.write_text('lr: choice(3e-3, 1e-2)\nepochs: 1\nn_folds: 3\npruner: none\nsampler: {seed: 0}\n')
    for r in roots: with_split(six, r, 'pg')
    cmd = ('tune', '-f', space, '--trials', N, '--storage', pg_url, '--heartbeat', 1)
    a = sh(roots[0], *cmd)
    mid = lambda r: sorted(r.glob('pg/trial-*/params/03_train.yaml'))  # trials that reached 03_train's checks
    for _ in range(3000):  # B starts once A's first trial is under way, so A finishes first and claims the next
        if mid(roots[0]) or a.poll() is not None: break
        time.sleep(0.1)
    b = sh(roots[1], *cmd)
    for _ in range(3000):
        if len(mid(roots[0])) >= 2 or a.poll() is not None: break
        time.sleep(0.1)
    assert a.poll() is None and len(mid(roots[0])) == 2, a.communicate()[0][-3000:]
    kill_tree(a)
    killed = int(mid(roots[0])[-1].parts[-3].split('-')[1])
    out = finish(b)
    assert f'trial {killed}: no heartbeat' in out, out[-3000:]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name='pg', storage=pg_url).trials
    states = [t.state.name for t in trials]
    assert states.count('COMPLETE') == N and states.count('FAIL') == 1 and len(trials) == N + 1, states
    assert trials[killed].state.name == 'FAIL'
    (retry,) = [t for t in trials if t.system_attrs.get('failed_trial') == killed]
    assert retry.state.name == 'COMPLETE' and retry.params == trials[killed].params  # rerun with the same values
    for t in trials:
        if t.state.name != 'COMPLETE': continue
        rows = tune_rows(Path(t.user_attrs['where'].split(':', 1)[1]).parent.parent, 'pg')
        assert rows.set_index('run').loc[f'trial-{t.number:04d}', 'status'] == 'ok'  # its row where it ran
    ran_on_a = {r['trial'] for r in tune_rows(roots[0], 'pg').params}
    assert ran_on_a and killed not in ran_on_a  # A finished one before it was killed; no row for the killed one
    table = compare_study('pg', roots[1])  # B's report: A's trials too
    assert sorted(table.trial) == list(range(N + 1)) and (table.state == 'COMPLETE').sum() == N
