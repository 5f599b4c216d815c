"01_eda on real data: the census, groups, near-duplicates, broken and odd images, label distributions."
import io, json, os, shutil
import numpy as np, pandas as pd, pytest
from PIL import Image
from conftest import exec_nb, BEE, need
from compnb.data import read_comp
from compnb.images import open_image, image_hashes
from compnb.dups import dup_pairs, clusters


def test_bee_eda(runs, tmp_path):
    need(BEE)
    exec_nb('01_eda', tmp_path/'run', data=str(BEE), metadata='metadata.csv')
    e = json.loads((tmp_path/'run'/'eda'/'eda.json').read_text())
    truth = pd.read_csv(BEE/'labels.csv').label.value_counts().to_dict()
    assert e['n_classes'] == 6 and e['counts'] == truth
    assert e['groups']['groups'] == 45
    assert e['single_group_classes'] == ['Varroa, Small Hive Beetles', 'missing queen']
    assert e['near_duplicates']['pairs_within_groups'] > 0  # duplicate clusters inside videos
    assert e['near_duplicates']['clusters_spanning_groups'] > 0  # and the same crops under two video ids
    loc = next(m for m in e['metadata'] if m['column'] == 'location')
    assert 'Athens, GA, USA ~ Athens, Georgia, USA' in loc['variants'] and loc['note'].startswith('SHORTCUT')
    for png in ('class_counts', 'sizes', 'class_grid', 'odd_images', 'dup_pairs', 'label_distributions'):
        assert (tmp_path/'run'/'eda'/f'{png}.png').stat().st_size > 1000


def bee_copy(dst, n=None):
    "A bee_health copy of symlinks (the images are never copied into the repo or written to)"
    (dst/'images').mkdir(parents=True)
    lab = pd.read_csv(BEE/'labels.csv')
    if n: lab = lab.groupby('group').head(n).reset_index(drop=True)
    for p in lab.image: os.symlink(BEE/p, dst/p)
    lab.to_csv(dst/'labels.csv', index=False)
    return lab


def test_broken_and_odd_images_listed_not_fatal(runs, tmp_path):
    need(BEE)
    d = tmp_path/'bee'; lab = bee_copy(d, n=4)
    a, b, c = lab.image[:3]
    for p in (a, b, c): (d/p).unlink()
    raw = (BEE/a).read_bytes(); (d/a).write_bytes(raw[:len(raw) // 2])          # truncated PNG
    Image.open(BEE/b).convert('RGBA').save(d/b)                                # RGBA
    Image.open(BEE/c).convert('L').save(d/c)                                   # grayscale
    exec_nb('01_eda', tmp_path/'run', data=str(d))
    e = json.loads((tmp_path/'run'/'eda'/'eda.json').read_text())
    assert len(e['unreadable']) == 1 and e['unreadable'][0].startswith(a) and 'truncated' in e['unreadable'][0]
    assert e['modes'].get('RGBA', 0) >= 1 and e['modes'].get('L') == 1


def test_planted_duplicates(tmp_path):
    need(BEE)
    comp = read_comp(BEE)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(comp.train), 10, replace=False)
    d = tmp_path/'planted'; d.mkdir()
    names = []
    for k, i in enumerate(pick):
        im = open_image(BEE/comp.train.image[i]); w, h = im.size
        buf = io.BytesIO(); im.save(buf, 'JPEG', quality=70); Image.open(buf).save(d/f'{k}_jpeg70.png')
        im.crop((4, 4, w - 4, h - 4)).save(d/f'{k}_crop.png')                       # slightly cropped
        im.resize((160, 160)).save(d/f'{k}_resize.png')                              # resized
        im.crop((3, 3, w - 3, h - 3)).resize((128, 128)).save(d/f'{k}_crop_resize.jpg', quality=85)
        names += [f'{k}_jpeg70.png', f'{k}_crop.png', f'{k}_resize.png', f'{k}_crop_resize.jpg']
    # look-alikes: for 5 of the originals, the nearest other bee photo by pHash that is not a copy of it
    th = lambda p: np.asarray(open_image(p).resize((32, 32)), dtype=np.float32)
    hb = image_hashes(BEE, list(comp.train.image))
    ph = hb.phash0.values
    look = []
    for i in pick[:5]:
        dist = np.bitwise_count(ph ^ ph[i]).astype(float); dist[i] = 99
        for j in np.argsort(dist, kind='stable'):
            if np.abs(th(BEE/comp.train.image[j]) - th(BEE/comp.train.image[i])).mean() > 12: look.append((i, j)); break
    imgs = ([str(BEE/comp.train.image[i]) for i in pick] + [str(BEE/comp.train.image[j]) for _, j in look]
            + [str(d/n) for n in names])
    h = image_hashes('/', [p.lstrip('/') for p in imgs])
    cl = clusters(len(imgs), dup_pairs(h))
    n_o, n_l = len(pick), len(look)
    for k in range(n_o):
        # every copy meets its original
        for v in range(4): assert cl[n_o + n_l + 4 * k + v] == cl[k], (k, names[4 * k + v])
    for q, (i, j) in enumerate(look):
        assert cl[n_o + q] != cl[list(pick).index(i)], (f'look-alike {comp.train.image[j]} '
                                                        f'merged with {comp.train.image[i]}')
