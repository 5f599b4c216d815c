"Stages on the embedded sample, each in a fresh papermill kernel: progressive resizing carries weights, 04 rebuilds from files."
import json
import pandas as pd, torch
from conftest import run_nb, STAGES
from compnb.core import load_json
from compnb.data import read_comp, make_sample
from compnb.train import build_model, state_hash


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
    run = tmp_path/'run'
    for s in STAGES: run_nb(s, run, **({'fold': 0, 'epochs': 3} if s == '03_train' else {}))
    comp = read_comp('sample')
    sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str)
    probs = pd.read_csv(run/'infer'/'test_probs.csv', dtype={'id': str})
    assert list(sub.columns) == list(comp.sample_submission.columns)
    assert list(sub.id) == list(comp.sample_submission.id)
    assert (sub.label.values == probs[comp.vocab].values.argmax(1).astype(str)).all()
    ans = pd.read_csv(make_sample()/'answers.csv', dtype=str)
    assert (sub.label.values == ans.label.values).mean() > 0.8
    for s in STAGES: assert (run/'params'/f'{s}.yaml').exists() and (run/f'{s}.ipynb').exists()
    ledger = [json.loads(l) for l in (tmp_path/'ledger.jsonl').read_text().splitlines()]
    assert [r['stage'] for r in ledger] == STAGES and all(r['status'] == 'ok' for r in ledger)
    # EDA again, now that the run has folds and test predictions: label distributions side by side
    run_nb('01_eda', run, overwrite=True)
    js = json.loads((run/'eda'/'eda.json').read_text())['label_js']
    assert set(js) == {f'fold{k}_valid' for k in range(5)} | {'test_pred'} and all(0 <= v < 0.05 for v in js.values())
