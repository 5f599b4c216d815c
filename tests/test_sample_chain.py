"Stages on the embedded sample, each in a fresh papermill kernel: progressive resizing carries weights, 04 rebuilds from files."
import json, os, subprocess
import pandas as pd, torch
from conftest import run_nb, STAGES, COMPNB
from compnb.core import load_json
from compnb.ledger import read_ledger
from compnb.data import read_comp
from compnb.sample import make_sample
from compnb.models import build_model, state_hash


def test_progressive_resizing_carries_weights(runs, tmp_path):
    run = tmp_path/'run'
    run_nb('03_train', run, size=256, fold=0, epochs=1)
    hist = pd.read_csv(run/'train'/'fold0'/'history.csv')
    assert list(hist['size']) == [128, 256]
    assert [s.split('x')[-2:] for s in hist.batch_shape] == [['128', '128'], ['256', '256']]
    stages = json.loads((run/'train'/'fold0'/'stages.json').read_text())
    assert [s['size'] for s in stages] == [128, 256]
    assert stages[1]['start_hash'] == stages[0]['end_hash']
    assert stages[1]['start_hash'] != stages[1]['end_hash']  # stage 2 did train
    # the saved end-of-stage-1 checkpoint, reloaded here in another process, is what stage 2 started from
    cfg = load_json(run/'train'/'model.json')
    m = build_model(cfg); m.load_state_dict(torch.load(run/'train'/'fold0'/'s0_e0.pth'))
    assert state_hash(m) == stages[1]['start_hash']
    assert set(json.loads((run/'train'/'metrics.json').read_text())['folds']) == {'0'}


def test_sample_chain_submission(runs, tmp_path):
    "Two `compnb run` at once on the sample: both chains finish and all 8 ledger rows land (SQLite WAL)"
    run, other = tmp_path/'run', tmp_path/'other'
    # two runs on 2 cores oversubscribe OpenMP; passive waiting is what README advises for concurrent runs (64 s → 33 s here)
    env = dict(os.environ, COMPNB_RUNS=str(tmp_path), OMP_WAIT_POLICY='PASSIVE')
    ps = [subprocess.Popen([COMPNB, 'run', '--run_dir', str(run), '--fold', '0', '--epochs', '3', '--quiet'], env=env),
          subprocess.Popen([COMPNB, 'run', '--run_dir', str(other), '--fold', '1', '--epochs', '1', '--quiet'], env=env)]
    assert [p.wait(timeout=600) for p in ps] == [0, 0]
    comp = read_comp('sample')
    sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str)
    probs = pd.read_csv(run/'infer'/'test_probs.csv', dtype={'id': str})
    assert list(sub.columns) == list(comp.sample_submission.columns)
    assert list(sub.id) == list(comp.sample_submission.id)
    assert (sub.label.values == probs[comp.vocab].values.argmax(1).astype(str)).all()
    ans = pd.read_csv(make_sample()/'answers.csv', dtype=str)
    assert (sub.label.values == ans.label.values).mean() > 0.8
    for s in STAGES: assert (run/'params'/f'{s}.yaml').exists() and (run/f'{s}.ipynb').exists()
    led = read_ledger(tmp_path)
    assert len(led) == 8 and (led.status == 'ok').all()
    for r in (run, other): assert list(led[led.run_dir == str(r)].stage) == STAGES
    assert led[(led.run_dir == str(run)) & (led.stage == '03_train')].metrics.iloc[0]['folds'].keys() == {'0'}
    # EDA again, now that the run has folds and test predictions: label distributions side by side
    run_nb('01_eda', run, overwrite=True)
    js = json.loads((run/'eda'/'eda.json').read_text())['label_js']
    assert set(js) == {f'fold{k}_valid' for k in range(5)} | {'test_pred'} and all(0 <= v < 0.05 for v in js.values())
