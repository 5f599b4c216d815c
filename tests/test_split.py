"02_split on real data: group- and duplicate-safe folds, leaks refused, deterministic, multi-label stratified."
import json
import numpy as np, pandas as pd, pytest
from conftest import exec_nb, BEE, need
from compnb.core import CompError
from compnb.data import read_comp
from compnb.images import image_hashes
from compnb.dups import dup_pairs
from compnb.comp import label_matrix
from compnb.split import make_folds, split_report


def split(run, **kw):
    exec_nb('02_split', run, data=str(BEE), **kw)
    return (run/'split'/'folds.csv').read_bytes(), json.loads((run/'split'/'split_report.json').read_text())


def test_bee_group_split_vs_random(runs, tmp_path):
    need(BEE)
    folds_a, rep = split(tmp_path/'a')
    assert rep['scheme'] == 'sgkf' and rep['n_folds'] == 5
    assert all(f['group_overlap'] == 0 for f in rep['folds'].values())
    assert rep['single_group_classes'] == ['Varroa, Small Hive Beetles', 'missing queen']
    sizes = [f['valid'] for f in rep['folds'].values()]
    assert max(sizes) <= 1.2 * min(sizes), sizes  # fold sizes within ±20% of each other
    # near-duplicates across train/valid: none with the group split, many with a random KFold on the same data
    comp = read_comp(BEE)
    pairs = dup_pairs(image_hashes(comp.root, list(comp.train.image)))
    rnd = split_report(comp.train, make_folds(comp.train, 5, 'kfold', allow_leak=True), pairs=pairs)
    print(f"near-duplicate pairs across train/valid: group split {rep['dup_pairs_across_total']}, "
          f"random KFold {rnd['dup_pairs_across_total']}")
    assert rep['dup_pairs_across_total'] == 0 and rnd['dup_pairs_across_total'] >= 30
    assert rnd['leaking_images_total'] > 1000  # and it says how many images leak through groups
    # determinism: same seed → byte-identical folds.csv; another seed → different folds
    folds_b, _ = split(tmp_path/'b')
    folds_c, _ = split(tmp_path/'c', seed=7)
    assert folds_a == folds_b and folds_a != folds_c


def test_allow_leak(runs, tmp_path):
    need(BEE)
    with pytest.raises(CompError, match='allow_leak=True'):
        split(tmp_path/'a', scheme='kfold')
    assert not (tmp_path/'a'/'split'/'folds.csv').exists()  # nothing half-written
    _, rep = split(tmp_path/'b', scheme='kfold', allow_leak=True)
    assert rep['leaking_images_total'] > 0 and rep['group_overlap_total'] > 0


def test_merge_and_drop_single_group_classes(runs, tmp_path):
    need(BEE)
    _, rep = split(tmp_path/'a', merge_classes='Varroa, Small Hive Beetles>few varrao, hive beetles',
                   drop_classes='missing queen')
    assert rep['single_group_classes'] == [] and rep['relabel']['drop'] == ['missing queen']
    from compnb.split import load_split
    comp, folds = load_split(tmp_path/'a', read_comp(BEE))
    assert len(comp.vocab) == 4 and len(folds) == len(comp.train) == 2595 - 15


def test_multilabel_stratification():
    rng = np.random.default_rng(0)
    vocab = list('abcdef')
    rates = [0.5, 0.3, 0.2, 0.1, 0.05, 0.6]
    labels = [[v for v, r in zip(vocab, rates) if rng.random() < r] or ['a'] for _ in range(1500)]
    t = pd.DataFrame({'image': [f'{i}.png' for i in range(1500)], 'labels': labels})
    f = make_folds(t, 5, target='labels')  # auto → MultilabelStratifiedKFold
    y = label_matrix(t, 'labels')
    overall = y.mean(0)
    for k in range(5):
        dev = np.abs(y[f.fold.values == k].mean(0) - overall)
        assert (dev <= 0.02).all(), (k, dev)  # every label's positive rate within 2 points of overall in every fold
