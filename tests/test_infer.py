"04_infer: TTA and ensembles computed exactly, a score-boost table, a validated submission, pseudo-labels round trip."
import json, shutil
import numpy as np, pandas as pd, pytest, torch
from conftest import exec_nb, BEE
from compnb.core import CompError, load_json
from compnb.data import read_comp
from compnb.models import build_model
from compnb.predict import predict, predict_tta, combine
from compnb.ensemble import load_members
from compnb.submission import write_submission, make_submission
from compnb.sample import make_sample


def boost_of(run):
    return pd.read_csv(run/'infer'/'boost.csv')


def check_exact(run, comp, images):
    "TTA = weighted mean of per-view predictions; a 2-checkpoint ensemble = mean of its members (1e-6)"
    cfg = load_json(run/'train'/'model.json')
    ms = load_members(run/'train', cfg, 'last2', 'cpu')[cfg['folds_trained'][0]]
    views = cfg['tta']
    P = predict_tta(ms, comp.root, images, cfg['size'], cfg['method'], views, device='cpu')
    per = [[predict(m, comp.root, images, cfg['size'], cfg['method'], [v], device='cpu') for v in views] for m in ms]
    w = np.array([2.0 if v == 'orig' else 1.0 for v in views])
    want = np.mean([sum(wi * p for wi, p in zip(w, pm)) / w.sum() for pm in per], 0)
    np.testing.assert_allclose(combine(P, views, 2.0), want, atol=1e-6)
    np.testing.assert_allclose(combine(P, views, 2.0), np.mean([combine(P[i:i + 1], views, 2.0) for i in range(2)], 0),
                               atol=1e-6)


def test_sample_boost_and_pseudo_round_trip(runs, tmp_path):
    run = tmp_path/'run'
    exec_nb('02_split', run)
    exec_nb('03_train', run, epochs=3, keep_last=2)
    exec_nb('04_infer', run, ckpts='best+last2', pseudo_thresh=0.5)
    b = boost_of(run)
    tricks = list(b.trick)
    assert tricks[0].startswith('baseline') and any('checkpoint ensemble' in t for t in tricks)
    assert any('temperature' in t for t in tricks) and tricks[-1].startswith('+ fold ensemble')
    assert b.delta.iloc[0] == 0 and b['note'].iloc[-1].startswith('no OOF score')
    temp = b[b.trick.str.contains('temperature')].note.iloc[0]
    assert 'lowers' in temp or 'does not lower' in temp  # reported either way
    comp = read_comp('sample')
    check_exact(run, comp, comp.test[:16])
    shutil.copy(run/'infer'/'pseudo.csv', tmp_path/'pseudo.csv')
    # fitted=: a later 04 (a packed Kaggle notebook) reuses what this one fitted on OOF, predicting no OOF image
    shutil.copy(run/'infer'/'infer.json', tmp_path/'fitted.json')
    before = [(run/'infer'/f).read_bytes() for f in ('submission.csv', 'test_probs.csv')]
    exec_nb('04_infer', run, ckpts='best+last2', fitted=str(tmp_path/'fitted.json'), overwrite=True)
    assert [(run/'infer'/f).read_bytes() for f in ('submission.csv', 'test_probs.csv')] == before
    assert not (run/'infer'/'boost.csv').exists()
    assert json.loads((run/'infer'/'infer.json').read_text())['fitted_from'] == str(tmp_path/'fitted.json')
    # blending another run: allowed on the same folds, refused (before writing anything) on other folds
    other = tmp_path/'other'
    for d in ('train', 'split'): shutil.copytree(run/d, other/d)
    exec_nb('04_infer', run, runs=str(other), overwrite=True)
    b2 = boost_of(run)
    assert any('blend 2 runs (weights cross-fitted)' in t for t in b2.trick)
    mj = json.loads((other/'train'/'model.json').read_text())
    mj['folds_hash'] = '0' * 16
    (other/'train'/'model.json').write_text(json.dumps(mj))
    before = (run/'infer'/'submission.csv').read_bytes()
    with pytest.raises(CompError, match='folds differ'): exec_nb('04_infer', run, runs=str(other), overwrite=True)
    assert (run/'infer'/'submission.csv').read_bytes() == before
    # pseudo.csv → 03_train: extra training rows, never validation
    ps = pd.read_csv(tmp_path/'pseudo.csv')
    assert len(ps) and set(ps.columns) >= {'image', 'label', 'fold'} and set(ps.fold) == set(range(5))
    run2 = tmp_path/'run2'
    (run2/'split').mkdir(parents=True)
    (run2/'split'/'folds.csv').write_bytes((run/'split'/'folds.csv').read_bytes())
    exec_nb('03_train', run2, fold=0, epochs=1, pseudo=str(tmp_path/'pseudo.csv'))
    st = json.loads((run2/'train'/'fold0'/'stages.json').read_text())[0]
    folds = pd.read_csv(run/'split'/'folds.csv')
    assert st['n_train'] == (folds.fold != 0).sum() + (ps.fold == 0).sum()
    assert st['n_valid'] == (folds.fold == 0).sum()
    assert not set(ps.image) & set(pd.read_csv(run2/'train'/'oof.csv').image)


def test_bee_boost_table(bee_run):
    run = bee_run
    b = boost_of(run)
    assert any('TTA orig,hflip,vflip,rot90' in t for t in b.trick) and any('TTA orig,hflip' == t[2:] for t in b.trick)
    assert b.delta.notna().sum() >= 4
    comp = read_comp(BEE, holdout=0.2)
    check_exact(run, comp, comp.test[:12])
    r = json.loads((run/'infer'/'infer.json').read_text())
    assert r['holdout']['n'] == len(comp.test)


@pytest.mark.parametrize('fault,pattern', [('order', 'not in sample_submission order'), ('missing', 'lacks 1 id'),
                                           ('duplicate', 'duplicated ids'), ('nan', 'missing values on rows 2')])
def test_submission_validator(fault, pattern, tmp_path):
    ss = pd.DataFrame({'id': ['a', 'b', 'c'], 'label': ['x'] * 3})
    sub = make_submission(ss, 'id', 'label', np.eye(2)[[0, 1, 0]], ['x', 'y'])
    if fault == 'order': sub = sub.iloc[[1, 0, 2]]
    if fault == 'missing': sub = sub.iloc[:2]
    if fault == 'duplicate': sub = pd.concat([sub.iloc[:2], sub.iloc[:1]])
    if fault == 'nan': sub.loc[1, 'label'] = None
    with pytest.raises(CompError, match=pattern): write_submission(sub, ss, 'id', tmp_path/'submission.csv')
    assert not list(tmp_path.iterdir())  # no file written


def test_binary_target_gets_probabilities(runs, tmp_path):
    """A binary competition whose sample_submission is `id,target` with fractions (aerial cactus, ISIC,
    histopathology style): `target` holds the probability of the positive class, not a hard 0/1 label"""
    src, d = make_sample(), tmp_path/'zero'
    d.mkdir()
    for sub in ('train', 'test'): (d/sub).symlink_to(src/sub)
    tr = pd.read_csv(src/'train.csv').iloc[:600]  # a third of the images: a quicker epoch
    tr.assign(label=(tr.label == 0).astype(int)).to_csv(d/'train.csv', index=False)  # is it a zero?
    ss = pd.read_csv(src/'sample_submission.csv')
    pd.DataFrame({'id': ss.id, 'target': 0.5}).to_csv(d/'sample_submission.csv', index=False)
    (d/'compnb.json').write_text(json.dumps(dict(json.loads((src/'compnb.json').read_text()), name='digits-zero')))
    run = tmp_path/'run'
    exec_nb('03_train', run, data=str(d), fold=0)
    exec_nb('04_infer', run, data=str(d))
    sub, probs = pd.read_csv(run/'infer'/'submission.csv'), pd.read_csv(run/'infer'/'test_probs.csv')
    assert list(sub.columns) == ['id', 'target'] and list(sub.id) == list(ss.id)
    assert np.allclose(sub.target, probs['1']) and sub.target.between(0, 1).all() and not sub.target.isin([0, 1]).all()
    zero = pd.read_csv(src/'answers.csv').label.values == 0
    from sklearn.metrics import roc_auc_score
    assert roc_auc_score(zero, sub.target) > 0.9  # it is the probability of a zero, ranking zeros first
