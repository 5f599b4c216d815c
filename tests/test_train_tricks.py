"Each augmentation preset, loss and training trick trains one short epoch on the sample (in-process, 32 px)."
import json
import numpy as np, pandas as pd, pytest, torch
from conftest import CLOTHING, need, exec_nb
from compnb.core import load_json
from compnb.data import read_comp
from compnb.split import make_folds
from compnb.train import train_config, fit_fold
from compnb.models import build_model, state_hash
from compnb.loaders import image_cache_dir


@pytest.fixture(scope='module')
def small():
    comp = read_comp('sample')
    comp.train = comp.train.groupby('label').head(40).reset_index(drop=True)  # 400 images
    return comp, make_folds(comp.train, 5, seed=0)


def custom_aug(tmp_path):
    import albumentations as A
    p = tmp_path/'aug.json'; A.save(A.Compose([A.HorizontalFlip(p=0.5), A.Rotate(limit=10, p=0.5)]), str(p))
    return str(p)


CASES = {'aug quick': dict(aug='quick'), 'aug medium': dict(aug='medium'), 'aug heavy': dict(aug='heavy'),
         'aug custom': dict(aug='custom'), 'loss label_smoothing': dict(loss='label_smoothing'),
         'loss focal': dict(loss='focal'), 'loss soft_f1': dict(loss='soft_f1'), 'mixup': dict(mixup=0.4),
         'cutmix': dict(cutmix=1.0), 'balanced': dict(balanced=True), 'accum': dict(accum=2, bs=32),
         'freeze_pct': dict(freeze_pct=0.9), 'head_epochs': dict(head_epochs=1), 'ema': dict(ema=0.9),
         'channels_last': dict(channels_last=True), 'method crop': dict(method='crop'),
         'method pad': dict(method='pad'), 'metric accuracy': dict(metric='accuracy'),
         'head arcface': dict(head='arcface', arc_scale=16.0, arc_margin=0.2), 'metric qwk': dict(metric='qwk')}


@pytest.mark.parametrize('case', CASES)
def test_trick_trains(case, small, tmp_path):
    comp, folds = small
    kw = dict(CASES[case])
    if kw.get('aug') == 'custom': kw['aug'] = custom_aug(tmp_path)
    cfg = train_config(comp, epochs=2, lr=1e-2, num_workers=0, **kw)
    oof = fit_fold(comp, folds, 0, cfg, tmp_path, device='cpu', headless=True)
    fd = tmp_path/'fold0'
    hist = pd.read_csv(fd/'history.csv')
    assert len(hist) == 2 and np.isfinite(hist.train_loss).all() and np.isfinite(hist.valid_loss).all()
    assert len(oof) == (folds.fold == 0).sum() and np.allclose(oof[comp.vocab].sum(axis=1), 1, atol=1e-4)
    stages = load_json(fd/'stages.json')
    assert stages[-1]['start_hash'] != stages[-1]['end_hash']  # it trained
    m = build_model(cfg); m.load_state_dict(torch.load(fd/'best.pth'))  # plain keys whatever the trick
    if case == 'head_epochs':
        assert stages[0]['stage'] == 'head' and stages[1]['start_hash'] == stages[0]['end_hash']
        assert (hist.stage == 0).all()  # the warm-up is not a checkpointed stage
    if case == 'ema':  # validation and checkpoints use the averaged weights, not the last raw ones
        assert state_hash(m) != stages[-1]['end_hash']


@pytest.mark.skipif(not torch.cuda.is_available(), reason='torch.compile is a GPU option (CPU compile takes minutes)')
def test_torch_compile_trains(small, tmp_path):
    comp, folds = small
    cfg = train_config(comp, epochs=1, torch_compile=True)
    fit_fold(comp, folds, 0, cfg, tmp_path, headless=True)
    m = build_model(cfg); m.load_state_dict(torch.load(tmp_path/'fold0'/'best.pth'))


def clothing_subset(dst, per_class=30):
    "A clothing10 copy of symlinks, `per_class` photos a class (the photos are never copied into the repo or written)"
    import os
    lab = pd.read_csv(CLOTHING/'labels.csv').groupby('label').head(per_class)
    (dst/'images').mkdir(parents=True)
    for p in lab.image: os.symlink(CLOTHING/p, dst/p)
    lab.to_csv(dst/'labels.csv', index=False)
    return dst


def test_clothing10_cache_reused(runs, tmp_path, monkeypatch):
    """128 → 256 on real 400–888 px photos from the pre-resized cache; a second run decodes no original
    (writes no cache file)"""
    need(CLOTHING)
    data = clothing_subset(tmp_path/'clothing', per_class=12)
    monkeypatch.setenv('COMPNB_CACHE', str(tmp_path/'cache'))
    # one batch: every image loaded
    p = dict(data=str(data), size=256, fold=0, epochs=1, arch='test_resnet', pretrained=False, bs=512)
    exec_nb('03_train', tmp_path/'a', **p)
    hist = pd.read_csv(tmp_path/'a'/'train'/'fold0'/'history.csv')
    assert list(hist['size']) == [128, 256]
    dirs = [image_cache_dir(data, s, 'squish') for s in (128, 256)]
    snap = lambda: {p: p.stat().st_mtime_ns for d in dirs for p in d.rglob('*.u8')}  # .used: the LRU mark, touched
    first = snap()
    n = len(read_comp(str(data)).train)
    for d in dirs: assert sum(p.suffix == '.u8' and d in p.parents for p in first) == n
    exec_nb('03_train', tmp_path/'b', **p)
    assert snap() == first  # every image came from the cache: no new or rewritten file


def test_multilabel_through_the_stages(runs, tmp_path):
    "label_delim → sigmoid + BCE in 03, a threshold chosen on OOF in metrics.json; 04 thresholds and writes tags"
    from compnb.sample import make_sample
    ml = tmp_path/'ml'
    ml.mkdir()
    (ml/'train').symlink_to(make_sample()/'train', target_is_directory=True)
    t = read_comp('sample').train.groupby('label').head(40)
    (pd.DataFrame({'id': t.image.str.replace('train/', '').str.replace('.png', ''),
                   'labels': [f"{l} {'odd' if int(l) % 2 else 'even'}" for l in t.label]})
       .to_csv(ml/'train.csv', index=False))
    exec_nb('03_train', tmp_path/'run', data=str(ml), label_delim=' ', fold=0, epochs=2, n_folds=3, size=32,
            num_workers=0)
    m = load_json(tmp_path/'run'/'train'/'metrics.json')
    cfg = load_json(tmp_path/'run'/'train'/'model.json')
    assert cfg['loss'] == 'bce' and cfg['multi_label'] and 0 < m['threshold'] < 1 and set(m['folds']) == {'0'}


def test_multilabel_sample_end_to_end(runs, tmp_path):
    """data='sample-multilabel' (two digits an image): the reader finds the tags, 04 writes space-separated tags in
    sample_submission's order, and they score ≥ 0.9 samples-F1 on the answer key"""
    from compnb.sample import make_sample_multilabel
    from compnb.metrics import score
    from compnb.infer import oof_targets
    run = tmp_path/'run'
    for s, p in [('02_split', {}), ('03_train', dict(fold=0)), ('04_infer', dict(pseudo_thresh=0.9))]:
        exec_nb(s, run, data='sample-multilabel', **p)
    d = make_sample_multilabel()
    sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str, keep_default_na=False)
    ss = pd.read_csv(d/'sample_submission.csv', dtype=str)
    assert list(sub.columns) == list(ss.columns) and list(sub.id) == list(ss.id)
    assert sub['labels'].str.contains(' ').mean() > 0.5 and (sub['labels'] != '').all()  # tags, at least one each
    ans = pd.read_csv(d/'answers.csv', dtype=str).set_index('id').loc[sub.id]
    voc = [str(i) for i in range(10)]
    sf1 = score('samples_f1', oof_targets(ans['labels'], voc, True), oof_targets(sub['labels'], voc, True), True)
    assert sf1 >= 0.9, sf1
    b = pd.read_csv(run/'infer'/'boost.csv')
    assert b.trick.str.startswith('+ decide by').any() and (run/'infer'/'confused_tags.csv').exists()
    ps = pd.read_csv(run/'infer'/'pseudo.csv', dtype=str)
    assert len(ps) and ps['label'].str.split(' ').map(lambda ts: set(ts) <= set(voc)).all()
