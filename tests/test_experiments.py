"The `compnb` command: forced failure, backbone sweep, and 2-process CPU training (gloo) under torchrun."
import json, os, shutil, subprocess, sys
import pandas as pd, torch
from conftest import COMPNB
from compnb.core import load_json
from compnb.ledger import read_ledger
from compnb.models import build_model, state_hash


def sh(*args, env=None, timeout=600):
    return subprocess.run([COMPNB, *args], capture_output=True, text=True, env=env, timeout=timeout)


def test_forced_failure_exits_nonzero_keeps_notebook(runs, tmp_path):
    run = tmp_path/'bad'
    r = sh('run', '--run_dir', str(run), '--stages', '03_train', '--arch', 'no_such_arch', '--quiet')
    assert r.returncode == 1
    assert "03_train failed: CompError: arch='no_such_arch' is not a timm model" in r.stderr
    nb = json.loads((run/'03_train.ipynb').read_text())  # the executed notebook, with the error in it
    assert any(o.get('ename') == 'CompError' for c in nb['cells'] for o in c.get('outputs', []))
    led = read_ledger(tmp_path)
    assert list(zip(led.stage, led.status)) == [('03_train', 'failed')] and 'no_such_arch' in led.error.iloc[0]
    r = sh('run', '--sizs', '[64]')  # a typo is refused before anything runs
    assert r.returncode == 1 and 'did you mean --sizes' in r.stderr and len(read_ledger(tmp_path)) == 1
    (tmp_path/'exp.yaml').write_text('n_folds: 1\n02_split:\n  seed: 7\n')  # -f config: values reach the stage
    r = sh('run', '-f', str(tmp_path/'exp.yaml'), '--run_dir', str(tmp_path/'cfg'), '--stages', '02_split', '--quiet')
    assert r.returncode == 1 and 'n_folds' in r.stderr
    assert (tmp_path/'cfg'/'02_split.ipynb').exists() and list(read_ledger(tmp_path).status) == ['failed', 'failed']


def test_sweep_ranks_two_tiny_archs(runs, tmp_path):
    r = sh('sweep', '--archs', 'test_resnet,test_efficientnet', '--epochs', '1', '--run_dir', str(tmp_path/'sw'),
           '--n_folds', '3')
    assert r.returncode == 0, r.stderr[-2000:]
    df = pd.read_csv(tmp_path/'sw'/'sweep.csv')
    assert sorted(df.arch) == ['test_efficientnet', 'test_resnet'] and list(df['rank']) == [1, 2]
    assert (df.status == 'ok').all() and df.cv.is_monotonic_decreasing
    lines = r.stdout.strip().splitlines()
    assert lines[-3].split()[:2] == ['rank', 'arch'] and lines[-2].split()[1] == df.arch[0]  # the printed table
    hashes = {load_json(tmp_path/f'sw-{a}'/'train'/'model.json')['folds_hash'] for a in df.arch}
    assert len(hashes) == 1  # the same folds for every backbone
    led = read_ledger(tmp_path)
    assert sorted(led.stage) == ['02_split', '03_train', '03_train', 'sweep'] and (led.status == 'ok').all()


def test_ddp_two_cpu_processes(runs, tmp_path):
    run, trace = tmp_path/'ddp', tmp_path/'trace'
    env = dict(os.environ, COMPNB_TRACE=str(trace))
    r = sh('run', '--nproc', '2', '--run_dir', str(run), '--stages', '02_split,03_train', '--fold', '0',
           '--epochs', '2', '--quiet', env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    ranks = [load_json(trace/f'rank{k}.json') for k in (0, 1)]
    assert [t['world_size'] for t in ranks] == [2, 2]
    folds = pd.read_csv(run/'split'/'folds.csv')
    n_train = int((folds.fold != 0).sum())
    for e0, e1 in zip(ranks[0]['epochs'], ranks[1]['epochs']):
        pad = -n_train % 2  # fastai pads the order to a multiple of the ranks by repeating its start
        # disjoint shares, all samples
        assert len(set(e0) & set(e1)) == pad and set(e0) | set(e1) == set(range(n_train))
    assert ranks[0]['weights'] == ranks[1]['weights']  # identical weights at the end
    stages = load_json(run/'train'/'fold0'/'stages.json')
    assert stages[-1]['end_hash'] == ranks[0]['weights']
    # one set of outputs: one executed notebook, one 03_train ledger row, one history with the 2 epochs
    assert sorted(p.name for p in run.glob('*.ipynb')) == ['02_split.ipynb', '03_train.ipynb']
    led = read_ledger(tmp_path)
    assert list(led.stage) == ['02_split', '03_train'] and (led.status == 'ok').all()
    assert len(pd.read_csv(run/'train'/'fold0'/'history.csv')) == 2
    cfg = load_json(run/'train'/'model.json')
    m = build_model(cfg); m.load_state_dict(torch.load(run/'train'/'fold0'/'s0_e1.pth'))
    assert state_hash(m) == ranks[0]['weights']  # saved unwrapped (no DDP "module." prefix)


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def two_nodes(run, params, env, timeout=600):
    """`torchrun --nnodes 2` as two machines run it: two launchers (one rank each, gloo on the CPU) meeting at a c10d
    rendezvous on 127.0.0.1, `compnb stage 03_train` into one shared run folder; `params` one dict per node"""
    port = free_port()
    cmds = [[sys.executable, '-m', 'torch.distributed.run', '--nnodes', '2', '--nproc-per-node', '1',
             '--rdzv-backend', 'c10d', '--rdzv-endpoint', f'127.0.0.1:{port}', '--rdzv-id', 'two-nodes', COMPNB,
             'stage', '03_train', '--run_dir', str(run), '--quiet', '--params', json.dumps(p)] for p in params]
    ps = [subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in cmds]
    return [(p.wait(timeout=timeout), p.stdout.read()) for p in ps]


def test_ddp_two_nodes(sample_run, runs, tmp_path):
    """Two nodes (#27): disjoint shares of each epoch, identical final weights on both ranks, one set of outputs; then
    nodes that disagree on a parameter are refused, naming it, before any epoch runs"""
    run, trace = tmp_path/'nodes', tmp_path/'trace'
    shutil.copytree(sample_run/'split', run/'split')  # the shared run folder holds its split (02_split)
    env = dict(os.environ, COMPNB_TRACE=str(trace), OMP_NUM_THREADS='1')
    P = dict(fold=0, epochs=1)
    (c0, o0), (c1, o1) = two_nodes(run, [P, P], env)
    assert c0 == c1 == 0, (o0 + o1)[-4000:]
    assert '2 ranks on 1 machine(s) agree on data' in (run/'03_train.ipynb').read_text()  # rank 0's notebook
    ranks = [load_json(trace/f'rank{k}.json') for k in (0, 1)]
    assert [t['world_size'] for t in ranks] == [2, 2]
    folds = pd.read_csv(run/'split'/'folds.csv')
    n_train = int((folds.fold != 0).sum())
    for e0, e1 in zip(ranks[0]['epochs'], ranks[1]['epochs']):
        assert len(set(e0) & set(e1)) == n_train % 2 and set(e0) | set(e1) == set(range(n_train))
    assert ranks[0]['weights'] == ranks[1]['weights']
    assert load_json(run/'train'/'fold0'/'stages.json')[-1]['end_hash'] == ranks[0]['weights']
    assert sorted(p.name for p in run.glob('*.ipynb')) == ['03_train.ipynb']  # one set of outputs
    led = read_ledger(tmp_path)
    assert list(led.stage) == ['03_train'] and (led.status == 'ok').all()
    assert len(pd.read_csv(run/'train'/'fold0'/'history.csv')) == 1
    bad = tmp_path/'disagree'
    shutil.copytree(sample_run/'split', bad/'split')
    (c0, o0), (c1, o1) = two_nodes(bad, [P, dict(P, lr=0.05)], env)
    assert c0 and c1, (o0 + o1)[-4000:]
    assert 'the ranks disagree on params.lrs' in o0 + o1, (o0 + o1)[-4000:]
    assert not (bad/'train'/'fold0').exists()  # refused before any epoch (nothing of fold 0 written)
    led = read_ledger(tmp_path)
    assert list(led.status) == ['ok', 'failed'] and 'disagree' in led.error.iloc[-1]
