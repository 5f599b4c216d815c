"""A multi-label competition shaped like real tag sets, built from data we have (the embedded digits).

Each 32-px image tiles 1-3 different digits into a 2x2 grid; its label is the space-joined names of those digits
("one zero"). Tag frequencies are skewed (zero in 45% of images, nine in 4%), 1-3 tags per image (cardinality
about 1.95): a constant tag set scores well on samples-F1, so a model must learn to beat it. `shuffle=True`
permutes the training labels across images: nothing to learn, the constant should win. Written to a cache folder
outside the repo; `answers.csv` holds the test labels. Used by tests/test_tags_multilabel.py and bench/tags.py."""
from __future__ import annotations
import json, os, shutil
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image

NAMES = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine']
FREQ = np.array([0.30, 0.17, 0.12, 0.09, 0.08, 0.07, 0.06, 0.05, 0.03, 0.03])  # how often each digit is drawn
N_TAGS = ([1, 2, 3], [0.3, 0.45, 0.25])
RECIPE = dict(name='sample-tags', source='tests/tagset.py: 1-3 sklearn digits tiled 2x2, skewed tag frequency',
              arch='test_resnet', pretrained=False, size=32, epochs=6, lr=1e-2, aug='none', head_epochs=0)


def _tiles(imgs, y, pool, rng, n):
    "n images of 1-3 distinct digits in random cells of a 2x2 grid (16 px each), and their tag strings"
    by_class = {c: pool[y[pool] == c] for c in range(10)}
    out, labels = [], []
    for _ in range(n):
        k = rng.choice(N_TAGS[0], p=N_TAGS[1])
        digits = rng.choice(10, k, replace=False, p=FREQ)
        canvas = np.zeros((32, 32), np.uint8)
        for d, cell in zip(digits, rng.choice(4, k, replace=False)):
            tile = Image.fromarray(imgs[rng.choice(by_class[d])]).resize((16, 16), Image.BILINEAR)
            r, c = divmod(int(cell), 2)
            canvas[16 * r:16 * r + 16, 16 * c:16 * c + 16] = np.asarray(tile)
        out.append(canvas)
        labels.append(' '.join(NAMES[d] for d in sorted(digits)))
    return out, labels


def make_tagset(dest=None, n_train=800, n_test=200, seed=0, shuffle=False, recipe=True):
    "Build (once) the tag-set competition in `dest` (default: the compnb cache) and return its folder"
    from compnb.core import cache_root
    from compnb.sample import _digits, _publish
    name = f'tagset-{n_train}-{n_test}-{seed}' + ('-shuffled' if shuffle else '') + ('' if recipe else '-bare')
    dest = Path(dest) if dest else cache_root()/'sample'/name
    if (dest/'answers.csv').exists(): return dest
    imgs, y, idx_tr, idx_te = _digits(0.3)
    rng, tmp = np.random.default_rng(seed), dest.with_name(f'{dest.name}.tmp{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    for sub, pool, n, pre in (('train', idx_tr, n_train, 'tr'), ('test', idx_te, n_test, 'te')):
        (tmp/sub).mkdir(parents=True)
        ims, labs = _tiles(imgs, y, pool, rng, n)
        for k, a in enumerate(ims): Image.fromarray(a).save(tmp/sub/f'{pre}{k:04d}.png')
        ids = [f'{pre}{k:04d}' for k in range(n)]
        if sub == 'train':
            if shuffle: labs = list(rng.permutation(labs))
            pd.DataFrame({'id': ids, 'tags': labs}).to_csv(tmp/'train.csv', index=False)
        else:
            pd.DataFrame({'id': ids, 'tags': 'zero'}).to_csv(tmp/'sample_submission.csv', index=False)
            pd.DataFrame({'id': ids, 'tags': labs}).to_csv(tmp/'answers.csv', index=False)
    if recipe: (tmp/'compnb.json').write_text(json.dumps(RECIPE, indent=2))  # the recipe only: no delim, no metric
    return _publish(tmp, dest)


def submission_scores(comp_dir, submission):
    "(samples-F1 of a submission against answers.csv, the best constant's samples-F1 and what it is)"
    from compnb.metrics import tags_matrix, score, best_constant
    ans = pd.read_csv(Path(comp_dir)/'answers.csv', dtype=str)
    sub = pd.read_csv(submission, dtype=str, keep_default_na=False).set_index('id').loc[ans.id]
    T, D = tags_matrix(ans.tags, NAMES), tags_matrix(sub.tags, NAMES)
    c = best_constant('samples_f1', T, True, vocab=NAMES)
    return score('samples_f1', T, D, True), c['score'], c['what']
