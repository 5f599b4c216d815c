"""Long runs survive their usual failures (injected on the CPU): out of memory mid-stage, a NaN loss, a full disk while
writing a checkpoint or the submission, a truncated cache file. Finished work is never lost or repeated."""
import hashlib, json, os, subprocess, sys
from pathlib import Path
import numpy as np, pandas as pd, pytest
from conftest import NBS, exec_nb, COMPNB
from compnb.core import CompError, load_json, DiskFull
from compnb.ledger import read_ledger
from compnb.data import read_comp
from compnb.split import make_folds
from compnb.train import train_config, fit_fold
from compnb.loaders import image_cache_dir
from fastai.callback.core import Callback
from fastai.callback.training import GradientAccumulation


@pytest.fixture(scope='module')
def small():
    comp = read_comp('sample')
    comp.train = comp.train.groupby('label').head(30).reset_index(drop=True)  # 300 images
    return comp, make_folds(comp.train, 3, seed=0)


def test_out_of_memory_halves_the_batch(small, tmp_path, monkeypatch):
    "bs=64, memory for 16 from epoch 2 on: epoch 1 at 64; then 16 with accumulation 4; no epoch repeated"
    comp, folds = small
    monkeypatch.setenv('COMPNB_FAKE_OOM', '16@2')
    cfg = train_config(comp, epochs=3, bs=64, num_workers=0)
    fit_fold(comp, folds, 0, cfg, tmp_path, device='cpu', headless=True)
    h = pd.read_csv(tmp_path/'fold0'/'history.csv')
    assert list(h.epoch) == [0, 1, 2]  # finished epochs are not repeated
    assert list(zip(h.bs, h.accum)) == [(64, 1), (16, 4), (16, 4)]
    assert h.batch_shape.str.split('x').str[0].astype(int).tolist() == [64, 16, 16]


class _SeenAccum(Callback):
    "Records how many samples fastai's GradientAccumulation waits for"
    def before_epoch(self):
        self.n_acc = next((c.n_acc for c in self.learn.cbs if isinstance(c, GradientAccumulation)), None)


def test_bs_auto_probes(small, tmp_path, monkeypatch):
    "bs='auto' trains at the largest batch that fits, and accumulation counts in those batches"
    comp, folds = small
    monkeypatch.setenv('COMPNB_FAKE_OOM', '32@1')
    cfg, seen = train_config(comp, epochs=1, bs='auto', accum=2, num_workers=0), _SeenAccum()
    fit_fold(comp, folds, 0, cfg, tmp_path, device='cpu', headless=True, cbs=[seen])
    assert pd.read_csv(tmp_path/'fold0'/'history.csv').bs.tolist() == [32]  # the largest that fits
    assert seen.n_acc == 64  # 2 batches of 32, not 2 of the 64 assumed before the probe


def test_nan_loss_stops_and_resume_finishes(tmp_path, monkeypatch):
    """A NaN loss in epoch 2 (papermill, headless): exit ≠ 0 naming stage and epoch, a failed ledger row;
    resume finishes"""
    run, runs = tmp_path/'runs'/'run', tmp_path/'runs'
    env = dict(os.environ, COMPNB_RUNS=str(runs), COMPNB_FAKE_NAN='2')
    base = [COMPNB, 'stage', '03_train', '--run_dir', str(run), '--fold', '0', '--epochs', '3', '--quiet']
    r = subprocess.run(base, capture_output=True, text=True, env=env)
    assert r.returncode == 1 and 'stage 1/1 (32 px), epoch 2' in r.stderr and 'not finite' in r.stderr, r.stderr[-800:]
    assert 'lower lr' in r.stderr
    led = read_ledger(runs)
    assert list(led.status) == ['failed'] and 'NonFiniteLoss' in led.error.iloc[0] and 'epoch 2' in led.error.iloc[0]
    fd = run/'train'/'fold0'
    assert pd.read_csv(fd/'history.csv').epoch.tolist() == [0] and (fd/'s0_e0.pth').exists()  # the last good epoch
    monkeypatch.setenv('COMPNB_RUNS', str(runs))
    exec_nb('03_train', run, fold=0, epochs=3, resume=True)  # in this process: the CLI path was tested above
    h = pd.read_csv(fd/'history.csv')
    assert h.epoch.tolist() == [0, 1, 2] and (run/'train'/'metrics.json').exists()


def snapshot(d):
    return {str(p.relative_to(d)): hashlib.sha1(p.read_bytes()).hexdigest() for p in Path(d).rglob('*') if p.is_file()}


def test_full_disk_keeps_previous_files(small, tmp_path, monkeypatch):
    "ENOSPC while writing best.pth, then submission.csv: the previous files byte-identical, no temporary file left"
    from compnb import core
    from compnb.submission import make_submission, write_submission
    comp, folds = small
    monkeypatch.setenv('COMPNB_FAKE_ENOSPC', 'best.pth@2')  # the second best.pth (a better epoch 2) finds the disk full
    monkeypatch.setattr(core, '_writes', {})
    cfg = train_config(comp, epochs=3, lr=1e-2, num_workers=0)
    fd = tmp_path/'fold0'
    with pytest.raises(DiskFull, match=r'best\.pth: the disk is full.*A checkpoint is .* a fold keeps about'):
        fit_fold(comp, folds, 0, cfg, tmp_path, device='cpu', headless=True)
    assert pd.read_csv(fd/'history.csv').epoch.tolist() == [0]  # the epoch whose files failed is not recorded
    best = (fd/'best.pth').read_bytes()
    assert best == (fd/'s0_e0.pth').read_bytes()  # the previous best, whole
    assert not [p for p in tmp_path.rglob('*') if p.name.endswith('.tmp')]
    ss = comp.sample_submission
    good = make_submission(ss, 'id', 'label', np.eye(10)[np.arange(len(ss)) % 10], comp.vocab)
    write_submission(good, ss, 'id', tmp_path/'submission.csv')
    before = (tmp_path/'submission.csv').read_bytes()
    monkeypatch.setenv('COMPNB_FAKE_ENOSPC', 'submission.csv')
    with pytest.raises(DiskFull, match=r'submission\.csv: the disk is full'):
        write_submission(make_submission(ss, 'id', 'label', np.eye(10)[np.zeros(len(ss), int)], comp.vocab), ss, 'id',
                         tmp_path/'submission.csv')
    assert (tmp_path/'submission.csv').read_bytes() == before
    assert not [p for p in tmp_path.rglob('*') if p.name.endswith('.tmp')]
    run = tmp_path/'run'  # and the stage itself: 04 stops with the message, leaving no half-written submission
    exec_nb('03_train', run, fold=0, epochs=1)
    with pytest.raises(DiskFull): exec_nb('04_infer', run)
    assert not (run/'infer'/'submission.csv').exists() and not [p for p in run.rglob('*') if p.name.endswith('.tmp')]


def test_truncated_cache_file_is_rebuilt(small, tmp_path, monkeypatch):
    "A cache entry cut short by a crash is rebuilt from the image, and training equals a clean run's for the seed"
    comp, folds = small
    monkeypatch.setenv('COMPNB_CACHE', str(tmp_path/'cache'))
    cfg = train_config(comp, epochs=1, num_workers=0, aug='none')
    fit_fold(comp, folds, 0, cfg, tmp_path/'clean', device='cpu', headless=True)
    cache = image_cache_dir(comp.root, 32, 'squish')
    files = sorted(cache.rglob('*.u8'))
    for f in files[:5]: f.write_bytes(f.read_bytes()[:50])
    fit_fold(comp, folds, 0, cfg, tmp_path/'again', device='cpu', headless=True)
    assert all(f.stat().st_size == 32 * 32 * 3 for f in files[:5])
    clean, again = (pd.read_csv(tmp_path/d/'fold0'/'history.csv').drop(columns='seconds') for d in ('clean', 'again'))
    assert clean.equals(again)
