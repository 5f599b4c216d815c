"01→04 on real bee photos: group-safe folds, a valid submission, a model better than the majority class."
import json
import numpy as np, pandas as pd
from conftest import BEE, need
from compnb.data import read_comp
from compnb.metrics import macro_f1


def test_bee_chain(bee_run):
    run = bee_run
    comp = read_comp(BEE, holdout=0.2)
    # no group in two folds
    folds = pd.read_csv(run/'split'/'folds.csv', dtype={'image': str}).merge(comp.train, on='image')
    assert (folds.groupby('group').fold.nunique() == 1).all()
    # holdout test images never share a group with train
    assert not set(comp.train.group) & set(comp.answers.id.map(dict(zip(folds.image, folds.group))).dropna())
    # submission: sample_submission's columns and row order, each label its row's argmax
    sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str)
    probs = pd.read_csv(run/'infer'/'test_probs.csv', dtype={'id': str})
    assert list(sub.columns) == list(comp.sample_submission.columns)
    assert list(sub.id) == list(comp.sample_submission.id) == list(probs.id)
    assert (sub.label.values == np.array(comp.vocab, dtype=object)[probs[comp.vocab].values.argmax(1)]).all()
    # OOF macro-F1 beats predicting 'healthy' everywhere, and predictions span several classes
    m = json.loads((run/'train'/'metrics.json').read_text())
    oof = pd.read_csv(run/'train'/'oof.csv', dtype={'target': str})
    o2i = {v: i for i, v in enumerate(comp.vocab)}
    t = oof.target.map(o2i).values
    baseline = macro_f1(t, np.full(len(t), o2i['healthy']))
    assert m['cv'] > baseline, (m['cv'], baseline)
    assert len(set(oof[comp.vocab].values.argmax(1))) >= 2
    assert json.loads((run/'infer'/'infer.json').read_text())['holdout']['n'] == len(comp.test)
    # progressive resizing on real photos: two stages per fold, weights carried
    st = json.loads((run/'train'/'fold0'/'stages.json').read_text())
    assert [s['size'] for s in st] == [32, 48] and st[1]['start_hash'] == st[0]['end_hash']


def test_bee_two_targets(runs, tmp_path):
    "targets='health,subspecies': one backbone, a head each; subspecies' unknown (-1) rows are masked, not dropped"
    need(BEE)
    from conftest import exec_nb
    from compnb.core import load_json
    run, P = tmp_path/'run', dict(data=str(BEE), holdout=0.2, targets='health,subspecies')
    exec_nb('02_split', run, **P, n_folds=2)
    exec_nb('03_train', run, **P, sizes='[32]', epochs=1, arch='resnet10t', pretrained=False, lr=1e-2)
    exec_nb('04_infer', run, **P)
    comp = read_comp(BEE, holdout=0.2, targets='health,subspecies')
    m = load_json(run/'train'/'metrics.json')
    assert set(m['targets']) == {'health', 'subspecies'} and all('macro_f1' in v['cv_all']
                                                                 for v in m['targets'].values())
    missing = int(comp.train['target:subspecies'].isna().sum())
    assert missing > 0 and m['targets']['subspecies']['masked'] == missing and m['targets']['health']['masked'] == 0
    assert len(pd.read_csv(run/'train'/'oof.csv')) == len(comp.train)  # every row kept
    sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str)
    assert list(sub.columns) == ['id', 'health', 'subspecies'] and list(sub.id) == list(comp.sample_submission.id)
    assert set(sub.subspecies) <= set(comp.target_vocabs['subspecies'])
    h = load_json(run/'infer'/'infer.json')['holdout']
    assert {'health', 'subspecies'} <= set(h) and 0 <= h['subspecies']['macro_f1'] <= 1
