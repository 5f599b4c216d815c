"#26: train↔test copies found by 01_eda, no false near-duplicates on the digits, one split per run in any order."
import io, json, shutil
import numpy as np, pandas as pd, pytest
from PIL import Image
from conftest import exec_nb, BEE, need
from compnb.sample import make_sample


def planted_sample(dst, n=10, seed=0):
    "A copy of the sample whose first `n` test images are replaced by re-encoded, resized training images"
    shutil.copytree(make_sample(), dst)
    tr, ss = pd.read_csv(dst/'train.csv', dtype=str), pd.read_csv(dst/'sample_submission.csv', dtype=str)
    pick = np.random.default_rng(seed).choice(len(tr), n, replace=False)
    planted = {}
    for k, i in enumerate(pick):
        im = Image.open(dst/'train'/f'{tr.id[i]}.png').convert('RGB')
        b = io.BytesIO(); im.save(b, 'JPEG', quality=70)
        Image.open(b).resize((44, 44), Image.BICUBIC).save(dst/'test'/f'{ss.id[k]}.png')  # re-encoded, resized
        planted[f'test/{ss.id[k]}.png'] = (f'train/{tr.id[i]}.png', tr.label[i])
    return planted


def test_train_test_copies_in_eda(runs, tmp_path):
    planted = planted_sample(tmp_path/'digits')
    exec_nb('01_eda', tmp_path/'run', data=str(tmp_path/'digits'))
    eda = tmp_path/'run'/'eda'
    e = json.loads((eda/'eda.json').read_text())
    assert e['train_test_dups']['pairs'] == 10 and e['train_test_dups']['test_images'] == 10, e['train_test_dups']
    t = pd.read_csv(eda/'train_test_dups.csv', dtype=str)
    assert {r.test: (r.train, r.label) for r in t.itertuples()} == planted  # each with its training image and label
    assert e['near_duplicates']['pairs'] == 0  # and no different digits called copies within train
    assert (eda/'train_test_dups.png').stat().st_size > 1000


def test_one_split_whatever_the_order(runs, tmp_path):
    "03's default split (no split/) is the one 02 makes: same function, same near-duplicate linking, same bytes"
    need(BEE)
    from compnb.data import read_comp
    from compnb.split import load_split
    exec_nb('02_split', tmp_path/'a', data=str(BEE))
    comp = read_comp(BEE)
    _, folds = load_split(tmp_path/'b', comp, save=True)  # what 03 run alone does
    a, b = (tmp_path/r/'split'/'folds.csv' for r in 'ab')
    assert a.read_bytes() == b.read_bytes()
    _, again = load_split(tmp_path/'b', comp)  # a later stage reads that split back
    pd.testing.assert_frame_equal(again, folds)


def test_blend_refusal_names_the_difference(tmp_path):
    "A blend on other folds is refused naming how many images moved and the first one, with its two folds"
    import json
    from compnb.core import CompError
    from compnb.ensemble import check_blend
    for r, h, f in (('a', 'x', [0, 1, 2, 0]), ('b', 'y', [0, 2, 1, 0])):
        (tmp_path/r/'train').mkdir(parents=True)
        (tmp_path/r/'train'/'model.json').write_text(json.dumps({'folds_hash': h}))
        pd.DataFrame({'image': ['i1', 'i2', 'i3', 'i4'], 'fold': f, 'target': 'a'}).to_csv(
            tmp_path/r/'train'/'oof.csv', index=False)
    with pytest.raises(CompError, match='2 of 4 image.s. in another fold, first i2: fold 1 in this run, 2 in the other'):
        check_blend(tmp_path/'a', [tmp_path/'b'])
