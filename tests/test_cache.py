"""The image cache knows its size (#27): 03 on the sample with COMPNB_CACHE_MAX below what it needs stays under it and
says so; a cache that cannot be written costs one warning, and training goes on from the images (in-process runs)."""
import errno, os
import compnb.loaders
from conftest import exec_nb
from compnb.core import load_json


def outputs(nb):
    "The text 03's cells printed"
    t = [o.get('text', '') for c in nb.cells for o in c.get('outputs', [])]
    return ''.join(''.join(x) if isinstance(x, list) else x for x in t)


def cached_bytes(root):
    return sum(p.stat().st_size for p in (root/'images').rglob('*') if p.is_file()) if (root/'images').exists() else 0


def small_sample(dst, n=200):
    "The sample's first `n` training images (symlinks), its compnb.json, no test set"
    import shutil
    import pandas as pd
    from compnb.sample import make_sample
    src = make_sample()
    (dst/'train').mkdir(parents=True)
    t = pd.read_csv(src/'train.csv').head(n)
    t.to_csv(dst/'train.csv', index=False)
    for i in t.id: (dst/'train'/f'{i}.png').symlink_to(src/'train'/f'{i}.png')
    shutil.copy(src/'compnb.json', dst/'compnb.json')
    return dst


def test_cache_max_below_need(tmp_path, monkeypatch):
    monkeypatch.setenv('COMPNB_CACHE', str(tmp_path/'cache'))
    monkeypatch.setenv('COMPNB_CACHE_MAX', '64K')  # 200 images at 32 px need 800 KB (a 4 KiB block each)
    nb = exec_nb('03_train', tmp_path/'run', data=str(small_sample(tmp_path/'data')), fold=0, epochs=1)
    text = outputs(nb)
    assert 'more than COMPNB_CACHE_MAX=64.0 KB: this run trains without the cache' in text, text[-2000:]
    assert cached_bytes(tmp_path/'cache') <= 64 * 1024 and load_json(tmp_path/'run'/'train'/'metrics.json')['cv'] > 0


class ReadOnly:
    "The os module as the loaders see it, with the cache's disk read-only"
    def __getattr__(self, k): return getattr(os, k)
    def replace(self, a, b): raise OSError(errno.EROFS, 'Read-only file system')


def test_read_only_cache_warns_once(tmp_path, monkeypatch, capsys):
    "One fold on 300 sample images with the cache's disk read-only: one warning, the fold trained from the images"
    from compnb.data import read_comp
    from compnb.split import make_folds
    from compnb.train import train_config, fit_fold
    monkeypatch.setenv('COMPNB_CACHE', str(tmp_path/'cache'))
    monkeypatch.setattr(compnb.loaders, 'os', ReadOnly())
    comp = read_comp('sample')
    comp.train = comp.train.groupby('label').head(30).reset_index(drop=True)
    cfg = train_config(comp, epochs=1, num_workers=0, arch='test_resnet', pretrained=False, cache=True)
    oof = fit_fold(comp, make_folds(comp.train, 5, seed=0), 0, cfg, tmp_path/'train', device='cpu', headless=True)
    text = capsys.readouterr().out
    assert text.count('cannot be written (Read-only file system): training goes on from the images') == 1, text[-2000:]
    assert len(oof) == 60 and not list((tmp_path/'cache').rglob('*.u8')) and not list((tmp_path/'cache').rglob('*.tmp'))
