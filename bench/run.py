"""compnb benchmarks: side-by-side ratios measured in one process (see BENCHMARKS.md).

    python bench/run.py --quick        # items 1-4, about a minute on 2 CPU cores
    python bench/run.py --full         # adds item 4 (quality at equal CPU budget, ~30+ min)

Prints `name: value (goal …)` lines and writes raw timings to bench/results/<quick|full>.json;
tests/test_bench.py recomputes every ratio from that file.
"""
import argparse, json, os, platform, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/'shared'/'data'
BEE, CLOTHING = SHARED/'bee_health', SHARED/'clothing10'


def timed(fn, repeat=1):
    "Best wall time of `repeat` runs of fn() (seconds)"
    best = float('inf')
    for _ in range(repeat):
        t = time.perf_counter(); fn(); best = min(best, time.perf_counter() - t)
    return best


def drain(dl):
    n = 0
    for xb, _ in dl: n += len(xb)
    return n


def bench_loader(raw, n_img=None):
    "1. compnb training loader vs a decode-only loop (the limit) vs fastai's default ImageDataLoaders, bee_health at 128 px"
    from PIL import Image
    from compnb.data import read_comp
    from compnb.loaders import make_loader
    comp = read_comp(BEE)
    imgs = list(comp.train.image[:n_img] if n_img else comp.train.image)
    def decode_only():
        for p in imgs:
            with Image.open(BEE/p) as im: im.convert('RGB').load()
    raw['loader_n_images'] = len(imgs)
    raw['decode_only_s'] = timed(decode_only, 2)
    cache = Path(tempfile.mkdtemp())/'cache'
    os.environ['COMPNB_CACHE'] = str(cache)
    dl = make_loader(BEE, imgs, [0] * len(imgs), 128, 'squish', 'quick', 64, True, 2, drop_last=False)
    raw['compnb_nocache_s'] = timed(lambda: drain(dl), 2)
    dlc = make_loader(BEE, imgs, [0] * len(imgs), 128, 'squish', 'quick', 64, True, 2, drop_last=False, cache=True)
    drain(dlc)  # fills the pre-resized cache once
    raw['compnb_cached_s'] = timed(lambda: drain(dlc), 2)
    # fastai's default: DataBlock + Resize item transform + aug_transforms batch transforms (on the CPU here).
    # ImageDataLoaders.from_df itself fails under pandas 3 (positional row[0] on a Series), so name the columns.
    from fastai.vision.all import DataBlock, ImageBlock, CategoryBlock, ColReader, RandomSplitter, Resize, aug_transforms
    df = pd.DataFrame({'fname': imgs, 'label': comp.train.label[:len(imgs)].values})
    db = DataBlock((ImageBlock, CategoryBlock(vocab=comp.vocab)), get_x=ColReader('fname', pref=f'{BEE}/'), get_y=ColReader('label'),
                   splitter=RandomSplitter(0.0, seed=0), item_tfms=Resize(128), batch_tfms=aug_transforms())
    fdls = db.dataloaders(df, bs=64, num_workers=2, device=torch.device('cpu'))
    raw['fastai_n_images'] = len(fdls.train.dataset)
    raw['fastai_s'] = timed(lambda: drain(fdls.train), 1)
    shutil.rmtree(cache, ignore_errors=True)


def bench_cache(raw):
    "2. one loader epoch at 128 px on clothing10 (400-888 px JPEGs): pre-resized cache vs decoding and resizing every epoch"
    from compnb.data import read_comp
    from compnb.loaders import make_loader
    comp = read_comp(CLOTHING)
    imgs = list(comp.train.image)
    cache = Path(tempfile.mkdtemp())/'cache'
    os.environ['COMPNB_CACHE'] = str(cache)
    plain = make_loader(CLOTHING, imgs, [0] * len(imgs), 128, 'squish', 'quick', 64, True, 2)
    raw['cache_n_images'] = len(imgs)
    raw['epoch_nocache_s'] = timed(lambda: drain(plain), 2)
    cached = make_loader(CLOTHING, imgs, [0] * len(imgs), 128, 'squish', 'quick', 64, True, 2, cache=True)
    raw['epoch_cache_fill_s'] = timed(lambda: drain(cached), 1)
    raw['epoch_cached_s'] = timed(lambda: drain(cached), 2)
    shutil.rmtree(cache, ignore_errors=True)


def bench_tta(raw, n=4):
    "3. TTA: n views in one pass vs n single-view passes (resnet18, bee_health, 128 px)"
    from compnb.data import read_comp
    from compnb.models import create_model
    from compnb.predict import predict_tta
    comp = read_comp(BEE)
    imgs = list(comp.train.image[:512])
    m = create_model('resnet18', len(comp.vocab)).eval()
    views = ['orig', 'hflip', 'vflip', 'rot90'][:n]
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    predict_tta(m, BEE, imgs[:64], 128, views=views, num_workers=0, device='cpu')  # warm-up
    raw['tta_n_views'] = n
    raw['tta_one_view_s'] = timed(lambda: predict_tta(m, BEE, imgs, 128, views=['orig'], bs=64, num_workers=0, device='cpu'), 2)
    raw['tta_n_views_s'] = timed(lambda: predict_tta(m, BEE, imgs, 128, views=views, bs=64, num_workers=0, device='cpu'), 2)


def bench_step(raw, n=20):
    "4. Training step: fastai Learner as compnb runs it (plain-tensor loaders, fastai Adam and flat loss) vs a plain torch loop (resnet18, 64 px, bs 64)"
    from functools import partial
    from torch.utils.data import DataLoader, TensorDataset
    from fastai.learner import Learner
    from fastai.data.core import DataLoaders
    from fastai.callback.core import Callback
    from compnb.models import create_model
    from compnb.losses import get_loss
    torch.manual_seed(0)
    ds = TensorDataset(torch.randint(0, 255, (64 * n, 3, 64, 64), dtype=torch.uint8), torch.randint(0, 6, (64 * n,)))
    dl, vdl = DataLoader(ds, batch_size=64), DataLoader(TensorDataset(*ds[:64]), batch_size=64)
    types = {}
    class Types(Callback):
        def after_loss(self): types.update(xb=type(self.xb[0]).__name__, pred=type(self.pred).__name__, loss=type(self.learn.loss_grad).__name__)
    dls = DataLoaders(dl, vdl); dls._device = torch.device('cpu')
    learn = Learner(dls, create_model('resnet18', 6), loss_func=get_loss('ce'), cbs=[Types()])
    from fastai.optimizer import OptimWrapper
    learn2 = Learner(dls, create_model('resnet18', 6), loss_func=get_loss('ce'), opt_func=partial(OptimWrapper, opt=torch.optim.Adam))
    for l in (learn, learn2):
        with l.no_bar(), l.no_logging(): l.fit(1, 1e-3)  # warm-up
    def fastai_loop(l=learn):
        with l.no_bar(), l.no_logging(): l.fit(1, 1e-3)
    m = create_model('resnet18', 6); opt = torch.optim.Adam(m.parameters(), 1e-3); lf = torch.nn.CrossEntropyLoss()
    def plain_loop():
        m.train()
        for x, y in dl: opt.zero_grad(); lf(m(x), y).backward(); opt.step()
        m.eval()
        with torch.no_grad():
            for x, y in vdl: lf(m(x), y)
    plain_loop()  # warm-up
    raw['step_types'] = types
    raw['step_fastai_s'], raw['step_plain_s'] = timed(fastai_loop, 2), timed(plain_loop, 2)
    raw['step_fastai_torch_adam_s'] = timed(lambda: fastai_loop(learn2), 2)


def bench_quality(raw):
    "4. (--full) bee_health, 5-fold group split, resnet18 from scratch, 64 px, 4 epochs: compnb recipe vs plain fastai; and the leak gap"
    from compnb.data import read_comp
    from compnb.split import make_folds
    from compnb.train import train_config, fit_folds
    from compnb.metrics import macro_f1
    comp = read_comp(BEE)
    out = Path(tempfile.mkdtemp())
    for name, scheme in (('group', 'auto'), ('random', 'kfold')):
        folds = make_folds(comp.train, 5, scheme, 42, allow_leak=True)
        cfg = train_config(comp, arch='resnet18', size=64, epochs=4, lr=3e-3, bs=64, aug='quick')
        t = time.perf_counter()
        m = fit_folds(comp, folds, cfg, out/name, fold=-1, device=torch.device('cpu'), headless=True)
        raw[f'quality_compnb_{name}'] = {'cv': m['cv'], 'folds': {k: v['macro_f1'] for k, v in m['folds'].items()}, 's': time.perf_counter() - t}
    from fastai.vision.all import ImageDataLoaders, Resize, aug_transforms, vision_learner, resnet18, CategoryBlock, DataBlock, ImageBlock, ColReader, IndexSplitter
    folds = make_folds(comp.train, 5, 'auto', 42)
    preds, truth = [], []
    t = time.perf_counter()
    for k in range(5):
        df = comp.train.assign(is_valid=(folds.fold.values == k))
        db = DataBlock((ImageBlock, CategoryBlock(vocab=comp.vocab)), get_x=ColReader('image', pref=f'{BEE}/'), get_y=ColReader('label'),
                       splitter=IndexSplitter(np.flatnonzero(df.is_valid.values)), item_tfms=Resize(64), batch_tfms=aug_transforms())
        dls = db.dataloaders(df, bs=64, num_workers=2, device=torch.device('cpu'))
        learn = vision_learner(dls, resnet18, pretrained=False)
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(4, 3e-3)
        p, y = learn.get_preds()
        preds.append(p.argmax(1).numpy()); truth.append(y.numpy())
    raw['quality_fastai_group'] = {'cv': macro_f1(np.concatenate(truth), np.concatenate(preds)),
                                   'folds': {str(k): macro_f1(t_, p_) for k, (t_, p_) in enumerate(zip(truth, preds))}, 's': time.perf_counter() - t}


def ratios(raw):
    "Every reported figure, recomputed from raw timings (tests/test_bench.py calls this on the JSON)"
    r = {}
    if 'decode_only_s' in raw:
        lim = raw['loader_n_images'] / raw['decode_only_s']
        r['loader_vs_decode_only'] = (raw['loader_n_images'] / raw['compnb_nocache_s']) / lim
        r['loader_cached_vs_decode_only'] = (raw['loader_n_images'] / raw['compnb_cached_s']) / lim
        r['loader_vs_fastai'] = (raw['loader_n_images'] / raw['compnb_nocache_s']) / (raw['fastai_n_images'] / raw['fastai_s'])
    if 'epoch_nocache_s' in raw: r['cache_speedup'] = raw['epoch_nocache_s'] / raw['epoch_cached_s']
    if 'tta_one_view_s' in raw: r['tta_cost_over_n'] = raw['tta_n_views_s'] / (raw['tta_n_views'] * raw['tta_one_view_s'])
    if 'step_plain_s' in raw:
        r['fastai_step_over_plain'] = raw['step_fastai_s'] / raw['step_plain_s']
        r['fastai_torch_adam_step_over_plain'] = raw['step_fastai_torch_adam_s'] / raw['step_plain_s']
    return r

GOALS = {'loader_vs_decode_only': '≥ 0.85 (quick preset, 2 workers)', 'loader_cached_vs_decode_only': 'informational',
         'loader_vs_fastai': '≥ 2', 'cache_speedup': '≥ 4', 'tta_cost_over_n': '≤ 1.05', 'fastai_step_over_plain': '≤ 1.10 (CPU; GPU not measured)',
         'fastai_torch_adam_step_over_plain': 'informational: separates the optimiser from the loop'}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--quick', action='store_true'); g.add_argument('--full', action='store_true')
    a = ap.parse_args()
    torch.manual_seed(0)
    raw = {'machine': f'{platform.machine()} · {os.cpu_count()} cores · {platform.python_version()} · torch {torch.__version__}',
           'date': time.strftime('%Y-%m-%d'), 'command': 'python bench/run.py ' + ('--quick' if a.quick else '--full')}
    t0 = time.perf_counter()
    for f in (bench_loader, bench_cache, bench_tta, bench_step) + ((bench_quality,) if a.full else ()):
        print(f'… {f.__doc__.splitlines()[0]}', flush=True); f(raw)
    raw['total_s'] = time.perf_counter() - t0
    raw['ratios'] = ratios(raw)
    for k, v in raw['ratios'].items(): print(f'{k}: {v:.3f} (goal {GOALS[k]})')
    out = ROOT/'bench'/'results'/f'{"quick" if a.quick else "full"}.json'
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(raw, indent=2) + '\n')
    print(f'raw timings: {out} ({raw["total_s"]:.0f} s)')


if __name__ == '__main__': main()
