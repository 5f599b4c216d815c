"Stages on the embedded sample: progressive resizing carries weights, 04 rebuilds from files, two runs at once."
import json, os, subprocess
import pandas as pd, torch
from conftest import exec_nb, STAGES
from compnb.core import load_json
from compnb.ledger import read_ledger
from compnb.data import read_comp
from compnb.sample import make_sample
from compnb.models import build_model, state_hash
from compnb.recipe import stage_sizes


def test_progressive_resizing_carries_weights(runs, tmp_path):
    run = tmp_path/'run'
    exec_nb('03_train', run, sizes='[48, 64]', fold=0, epochs=1, keep_last=-1)
    assert stage_sizes(256) == [128, 256]  # what size=256 means: these two stages
    hist = pd.read_csv(run/'train'/'fold0'/'history.csv')
    assert list(hist['size']) == [48, 64]
    assert [s.split('x')[-2:] for s in hist.batch_shape] == [['48', '48'], ['64', '64']]
    stages = json.loads((run/'train'/'fold0'/'stages.json').read_text())
    assert [s['size'] for s in stages] == [48, 64]
    assert stages[1]['start_hash'] == stages[0]['end_hash']
    assert stages[1]['start_hash'] != stages[1]['end_hash']  # stage 2 did train
    # the saved end-of-stage-1 checkpoint, reloaded from its file, is what stage 2 started from
    cfg = load_json(run/'train'/'model.json')
    m = build_model(cfg)
    m.load_state_dict(torch.load(run/'train'/'fold0'/'s0_e0.pth'))
    assert state_hash(m) == stages[1]['start_hash']
    assert set(json.loads((run/'train'/'metrics.json').read_text())['folds']) == {'0'}


def test_sample_chain_submission(sample_pair):
    "Two `compnb run` at once on the sample: both chains finish and all 8 ledger rows land (SQLite WAL)"
    run, other, led = sample_pair.a, sample_pair.b, sample_pair.ledger
    assert sample_pair.codes == [0, 0], [l.read_text()[-3000:] for l in sample_pair.logs]
    comp = read_comp('sample')
    sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str)
    probs = pd.read_csv(run/'infer'/'test_probs.csv', dtype={'id': str})
    assert list(sub.columns) == list(comp.sample_submission.columns)
    assert list(sub.id) == list(comp.sample_submission.id)
    assert (sub.label.values == probs[comp.vocab].values.argmax(1).astype(str)).all()
    ans = pd.read_csv(make_sample()/'answers.csv', dtype=str)
    assert (sub.label.values == ans.label.values).mean() > 0.8
    for s in STAGES: assert (run/'params'/f'{s}.yaml').exists() and (run/f'{s}.ipynb').exists()
    assert len(led) == 8 and (led.status == 'ok').all()
    for r in (run, other): assert list(led[led.run_dir == str(r)].stage) == STAGES
    assert led[(led.run_dir == str(run)) & (led.stage == '03_train')].metrics.iloc[0]['folds'].keys() == {'0'}


def test_executed_notebooks_show_their_plots(sample_run):
    "The executed stage notebooks are reports: their figures are in them"
    count = lambda s: sum('image/png' in o.get('data', {})
                          for c in json.loads((sample_run/f'{s}.ipynb').read_text())['cells']
                          for o in c.get('outputs', []))
    assert count('01_eda') >= 5 and count('03_train') >= 1 and count('04_infer') >= 2


def test_eda_again_with_folds_and_predictions(sample_pair, tmp_path):
    "EDA again, once the run has folds and test predictions: label distributions side by side"
    import shutil
    run = tmp_path/'run'
    shutil.copytree(sample_pair.a, run, symlinks=True)
    exec_nb('01_eda', run, overwrite=True)
    js = json.loads((run/'eda'/'eda.json').read_text())['label_js']
    assert set(js) == {f'fold{k}_valid' for k in range(5)} | {'test_pred'} and all(0 <= v < 0.05 for v in js.values())
