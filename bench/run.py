"""compnb benchmarks: side-by-side ratios measured in one process (see BENCHMARKS.md).

    python bench/run.py --quick        # items 1-5, about three minutes on 2 CPU cores
    python bench/run.py --full         # adds item 6: quality at equal CPU budget and recipe variants (about an hour)
    python bench/run.py --full --variants aug_none,aug_quick --resume   # fewer variants; keep finished runs

bench/gpu.sh (bench/gpu.py) measures the GPU figures on a lent machine; see BENCHMARKS.md.

Prints `name: value (goal …)` lines and writes raw timings to bench/results/<quick|full>.json;
tests/test_bench.py recomputes every ratio from that file.
"""
import argparse, gc, json, os, platform, shutil, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from compnb.core import save_json

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
    ("1. compnb training loader vs a decode-only loop (the limit) vs fastai's default ImageDataLoaders, "
     "bee_health at 128 px")
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
    from fastai.vision.all import (DataBlock, ImageBlock, CategoryBlock, ColReader, RandomSplitter, Resize,
                                   aug_transforms)
    df = pd.DataFrame({'fname': imgs, 'label': comp.train.label[:len(imgs)].values})
    db = DataBlock((ImageBlock, CategoryBlock(vocab=comp.vocab)), get_x=ColReader('fname', pref=f'{BEE}/'),
                   get_y=ColReader('label'), splitter=RandomSplitter(0.0, seed=0), item_tfms=Resize(128),
                   batch_tfms=aug_transforms())
    fdls = db.dataloaders(df, bs=64, num_workers=2, device=torch.device('cpu'))
    raw['fastai_n_images'] = len(fdls.train.dataset)
    raw['fastai_s'] = timed(lambda: drain(fdls.train), 2)  # best of 2, as for compnb
    shutil.rmtree(cache, ignore_errors=True)


def bench_cache(raw):
    ("2. one loader epoch at 128 px on clothing10 (400-888 px JPEGs): pre-resized cache vs decoding and resizing "
     "every epoch")
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
    raw['tta_one_view_s'] = timed(lambda: predict_tta(m, BEE, imgs, 128, views=['orig'], bs=64, num_workers=0,
                                                      device='cpu'), 2)
    raw['tta_n_views_s'] = timed(lambda: predict_tta(m, BEE, imgs, 128, views=views, bs=64, num_workers=0,
                                                     device='cpu'), 2)


def bench_step(raw, n=20):
    ("4. Training step: fastai Learner as compnb runs it (plain-tensor loaders, fastai Adam and flat loss) "
     "vs a plain torch loop (resnet18, 64 px, bs 64)")
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
        def after_loss(self): types.update(xb=type(self.xb[0]).__name__, pred=type(self.pred).__name__,
                                           loss=type(self.learn.loss_grad).__name__)
    dls = DataLoaders(dl, vdl); dls._device = torch.device('cpu')
    learn = Learner(dls, create_model('resnet18', 6), loss_func=get_loss('ce'), cbs=[Types()])
    from fastai.optimizer import OptimWrapper
    learn2 = Learner(dls, create_model('resnet18', 6), loss_func=get_loss('ce'),
                     opt_func=partial(OptimWrapper, opt=torch.optim.Adam))
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


BEFORE_REV = 'fe99db6'  # the last commit before "one decode pass" (separate decodes for check, census, hashes, stats)


def _papermill(tree, nb, run, env):
    "Run tree/nbs/<nb>.ipynb with papermill in its own kernel; (wall s, sum of cell durations s, slowest cells)"
    out = run/f'{nb}.out.ipynb'
    t = time.perf_counter()
    subprocess.run([sys.executable, '-m', 'papermill', f'{nb}.ipynb', str(out), '-p', 'data', str(BEE), '-p', 'run_dir',
                    str(run/'run')], cwd=tree/'nbs', env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t
    cells = [(''.join(c['source']).strip().splitlines()[0][:60],
              c['metadata'].get('papermill', {}).get('duration') or 0)
             for c in json.loads(out.read_text())['cells'] if c['cell_type'] == 'code' and c['source']]
    return wall, sum(d for _, d in cells), sorted(cells, key=lambda c: -c[1])[:4]


def _tree_env(tree, run):
    env = dict(os.environ, PYTHONPATH=str(tree), COMPNB_CACHE=str(run/'cache'), COMPNB_RUNS=str(run/'runs'),
               COMPNB_OFFLINE='1')
    return env


def _kernel_compnb(tree):
    "compnb.__file__ as a papermill kernel started like the benchmark's sees it"
    import nbformat
    d = Path(tempfile.mkdtemp())
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('import compnb; print(compnb.__file__)')],
                                            metadata={'kernelspec': {'name': 'python3', 'language': 'python',
                                                                     'display_name': 'Python 3'}}),
                   d/'check.ipynb')
    subprocess.run([sys.executable, '-m', 'papermill', str(d/'check.ipynb'), str(d/'out.ipynb')], cwd=tree/'nbs',
                   env=_tree_env(tree, d), check=True, capture_output=True)
    f = json.loads((d/'out.ipynb').read_text())['cells'][0]['outputs'][0]['text']
    shutil.rmtree(d, ignore_errors=True)
    return (''.join(f) if isinstance(f, list) else f).strip()


def bench_first_run(raw, repeat=2):
    ("5. First run of 01_eda + 02_split on bee_health (fresh cache and runs): fe99db6 (separate decodes) "
     "vs this tree (one decode pass)")
    before = Path(tempfile.mkdtemp())/BEFORE_REV
    before.mkdir()
    subprocess.run(f'git -C {ROOT} archive {BEFORE_REV} | tar -x -C {before}', shell=True, check=True)
    trees = {'before': before, 'after': ROOT}
    seen = {k: _kernel_compnb(t) for k, t in trees.items()}
    for k, t in trees.items():
        assert seen[k].startswith(str(t/'compnb')), f'the {k} kernel imported {seen[k]}, not {t}/compnb'
    res = {k: [] for k in trees}
    for _ in range(repeat):  # alternated, each with a fresh empty COMPNB_CACHE and COMPNB_RUNS
        for k, tree in trees.items():
            run = Path(tempfile.mkdtemp())
            env = _tree_env(tree, run)
            stages = {nb: _papermill(tree, nb, run, env) for nb in ('01_eda', '02_split')}
            res[k].append(dict(wall_s=sum(s[0] for s in stages.values()), cells_s=sum(s[1] for s in stages.values()),
                               stages={nb: dict(wall_s=s[0], cells_s=s[1], slowest_cells=s[2])
                                       for nb, s in stages.items()}))
            shutil.rmtree(run, ignore_errors=True)
    head = subprocess.run(['git', '-C', str(ROOT), 'rev-parse', '--short', 'HEAD'], capture_output=True,
                          text=True).stdout.strip()
    dirty = bool(subprocess.run(['git', '-C', str(ROOT), 'status', '--porcelain', '--', 'compnb', 'nbs'],
                                capture_output=True, text=True).stdout.strip())
    raw['first_run'] = dict(before=f'{BEFORE_REV} (git archive)',
                            after=f'working tree at {head}' + (' + uncommitted edits' if dirty else ''),
                            kernel_compnb=seen, repeat=repeat, runs=res)
    best = lambda k, m: min(r[m] for r in res[k])  # best of `repeat`, each measure on its own
    raw['first_run_before_s'], raw['first_run_after_s'] = best('before', 'wall_s'), best('after', 'wall_s')
    raw['first_run_before_cells_s'] = best('before', 'cells_s')
    raw['first_run_after_cells_s'] = best('after', 'cells_s')
    shutil.rmtree(before.parent, ignore_errors=True)


QUALITY = dict(arch='resnet18', pretrained=False, size=64, epochs=4)  # everything else at train_config's default
_MEDIUM = dict(aug='medium')  # the default before short budgets got 'quick': the variants named *_aug_medium ran on it
VARIANTS = {  # keyword overrides of compnb's default recipe, one fit_folds call each on the same group folds
    'aug_none': dict(aug='none'), 'aug_quick': dict(aug='quick'), 'aug_medium': _MEDIUM, 'aug_heavy': dict(aug='heavy'),
    'bs_128_aug_quick': dict(bs=128, aug='quick'), 'lr_1e-3_aug_quick': dict(lr=1e-3, aug='quick'),
    'loss_focal': dict(loss='focal'), 'ema_0.99': dict(ema=0.99), 'balanced_aug_medium': dict(_MEDIUM, balanced=True),
    'loss_label_smoothing_aug_medium': dict(_MEDIUM, loss='label_smoothing'), 'bs_16_aug_medium': dict(_MEDIUM, bs=16),
    'bs_32_aug_medium': dict(_MEDIUM, bs=32), 'bs_128_aug_medium': dict(_MEDIUM, bs=128),
    'lr_1e-3_aug_medium': dict(_MEDIUM, lr=1e-3), 'lr_1e-2_aug_medium': dict(_MEDIUM, lr=1e-2),
    'loss_soft_f1': dict(loss='soft_f1'), 'wd_1e-3': dict(wd=1e-3), 'wd_0.05': dict(wd=0.05), 'wd_0.1': dict(wd=0.1),
    'focal_aug_none_wd_1e-3': dict(loss='focal', aug='none', wd=1e-3)}
# method='crop'/'pad' are not run: every bee_health image is 100×100, so both give squish's pixels exactly


def f1_from_confusion(C, labels='seen'):
    "Macro-F1 from a confusion matrix (rows truth, columns predictions): over classes seen in either, or 'all'"
    C = np.asarray(C, dtype=float)
    tp = np.diag(C); den = 2 * tp + (C.sum(0) - tp) + (C.sum(1) - tp)
    f1 = np.where(den > 0, 2 * tp / np.maximum(den, 1), 0.0)  # sklearn's zero_division=0
    idx = np.flatnonzero((C.sum(1) > 0) | (C.sum(0) > 0)) if labels == 'seen' else np.arange(len(C))  # sklearn's labels
    return float(f1[idx].mean())


def _confusion(y, p, n):
    "Confusion matrix, checked against sklearn's f1_score(average='macro') (its labels: those in truth or predictions)"
    from sklearn.metrics import confusion_matrix, f1_score
    C = confusion_matrix(y, p, labels=range(n))
    sk = f1_score(y, p, average='macro', zero_division=0)
    assert abs(sk - f1_from_confusion(C)) < 1e-12, (sk, f1_from_confusion(C))
    return C.tolist()


def quality_folds(comp):
    "(group folds as 02_split makes them: near-duplicates linked into the groups; random KFold folds)"
    from compnb.split import make_folds, split_groups
    from compnb.dups import dup_pairs, dup_report
    from compnb.images import image_hashes
    pairs = dup_pairs(image_hashes(comp.root, list(comp.train.image)), 6)
    dups, _ = dup_report(comp.train, None, pairs, comp.target)
    groups = split_groups(comp, pairs, dups, True)
    group = make_folds(comp.train, 5, 'auto', 42, False, comp.target, groups)
    return group, make_folds(comp.train, 5, 'kfold', 42, allow_leak=True, target=comp.target), \
        dict(dup_pairs=int(len(pairs)), linked_groups=int(len(set(groups))))


def run_compnb(comp, folds, out, **over):
    ("compnb's recipe (train_config defaults + QUALITY + `over`) on every fold: confusions of the last epoch "
     "and of best.pth")
    from compnb.train import train_config, fit_folds
    from compnb.models import build_model
    from compnb.predict import predict
    from compnb.curves import read_history
    cfg = train_config(comp, **QUALITY, num_workers=2, **over)
    t = time.perf_counter()
    fit_folds(comp, folds, cfg, out, fold=-1, device='cpu', headless=True, overwrite=True)
    fit_s = time.perf_counter() - t
    t = time.perf_counter(); gc.collect(); gc_s = time.perf_counter() - t  # finished folds' persistent loader workers
    epochs_s = float(read_history(out).seconds.sum())
    n, o2i, last, best = len(comp.vocab), {v: i for i, v in enumerate(comp.vocab)}, {}, {}
    # the final stage's last epoch (every keep_last ≥ 0 keeps it)
    ck_name = f"s{len(cfg['sizes']) - 1}_e{cfg['epochs'][-1] - 1}.pth"
    t = time.perf_counter()
    for k in sorted(folds.fold.unique()):
        va = folds[folds.fold == k].merge(comp.train, on='image')
        y = va[comp.target].map(o2i).values
        m = build_model(cfg)
        m.load_state_dict(torch.load(Path(out)/f'fold{k}'/ck_name, map_location='cpu'))
        p = predict(m, comp.root, va.image, cfg['sizes'][-1], cfg['method'], ['orig'], cfg['bs'] * 2, 2, 'cpu',
                    cfg['cache'])
        last[str(k)] = _confusion(y, p.argmax(1), n)
        oof = pd.read_csv(Path(out)/f'fold{k}'/'oof.csv', dtype={'image': str, 'target': str})
        best[str(k)] = _confusion(oof.target.map(o2i).values, oof[comp.vocab].values.argmax(1), n)
    recipe = {k: cfg[k] for k in ('arch', 'pretrained', 'sizes', 'epochs', 'lrs', 'bs', 'wd', 'method', 'aug', 'loss',
                                  'balanced', 'head_epochs', 'ema', 'norm', 'mixup', 'cutmix', 'cache')}
    return dict(recipe=recipe, last_checkpoint=ck_name, confusion_last=last, confusion_best=best, fit_s=fit_s,
                epochs_s=epochs_s, gc_after_fit_s=gc_s, predict_last_s=time.perf_counter() - t)


def run_fastai(comp, folds, epochs=4, bs=64, size=64):
    ("Plain fastai on the same folds: DataBlock + Resize + aug_transforms, vision_learner(resnet18, "
     "pretrained=False), fit_one_cycle")
    from fastai.vision.all import (DataBlock, ImageBlock, CategoryBlock, ColReader, IndexSplitter, Resize,
                                   aug_transforms, vision_learner, resnet18, set_seed, defaults)
    n, last, t = len(comp.vocab), {}, time.perf_counter()
    df = comp.train.merge(folds, on='image')
    for k in sorted(folds.fold.unique()):
        set_seed(42 + int(k))
        db = DataBlock((ImageBlock, CategoryBlock(vocab=comp.vocab)), get_x=ColReader('image', pref=f'{comp.root}/'),
                       get_y=ColReader(comp.target), splitter=IndexSplitter(np.flatnonzero(df.fold.values == k)),
                       item_tfms=Resize(size), batch_tfms=aug_transforms())
        dls = db.dataloaders(df, bs=bs, num_workers=2, device=torch.device('cpu'))
        learn = vision_learner(dls, resnet18, pretrained=False)
        with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs)  # fastai's default lr_max
        with learn.no_bar(): p, y = learn.get_preds()
        last[str(k)] = _confusion(y.numpy(), p.argmax(1).numpy(), n)
    return dict(recipe=dict(arch='torchvision resnet18 + fastai head', pretrained=False, size=size, epochs=epochs,
                            bs=bs, lr_max=float(defaults.lr), item_tfms=f'Resize({size})',
                            batch_tfms='aug_transforms()'),
                confusion_last=last, fit_s=time.perf_counter() - t)


def bench_quality(raw, variants=tuple(VARIANTS), partial=None):
    ("6. (--full) bee_health, 5-fold group split, resnet18 from scratch, 64 px, 4 epochs: compnb recipe vs "
     "plain fastai; leak gap; variants")
    from compnb.data import read_comp
    from compnb.loaders import make_loader
    comp = read_comp(BEE)
    os.environ['COMPNB_CACHE'] = str(Path(tempfile.mkdtemp())/'cache')
    group, random, info = quality_folds(comp)
    drain(make_loader(BEE, list(comp.train.image), [0] * len(comp.train), 64, 'squish', 'none', 64, False, 2,
                      cache=True))
    q = raw.setdefault('quality', {})
    q.update(data='bee_health (2,595 images, 6 classes, no holdout)', folds='5 group folds, as 02_split makes them '
             "(near-duplicate pairs linked into the groups, make_folds(train, 5, 'auto', 42, groups=…))", **info,
             f1='sklearn f1_score(average=macro, zero_division=0) per fold: over the classes in that fold\'s valid '
                'truth or predictions (sklearn\'s default labels); pooled = all 6 classes of the pooled out-of-fold '
                'predictions',
             runs=q.get('runs', {}))
    out = Path(tempfile.mkdtemp())
    todo = [('compnb_group', lambda: run_compnb(comp, group, out/'group')),
            ('fastai_group', lambda: run_fastai(comp, group)),
            ('compnb_random', lambda: run_compnb(comp, random, out/'random'))]
    todo += [(f'variant_{v}', lambda v=v: run_compnb(comp, group, out/v, **VARIANTS[v])) for v in variants]
    for name, fn in todo:
        if name in q['runs']: print(f'  {name}: kept from the partial file', flush=True); continue
        print(f'  {name} …', flush=True)
        q['runs'][name] = fn()
        print(f"  {name}: last {mean_f1(q['runs'][name]):.4f} ({q['runs'][name]['fit_s']:.0f} s)", flush=True)
        if partial: save_json(raw, partial)
    shutil.rmtree(out, ignore_errors=True)


def mean_f1(run, which='last'):
    "Mean over folds of the per-fold macro-F1"
    return float(np.mean([f1_from_confusion(C) for C in run[f'confusion_{which}'].values()]))


def pooled_f1(run, which='last'):
    "Macro-F1 of the pooled out-of-fold predictions (all classes are in the pooled truth)"
    return f1_from_confusion(np.sum([np.asarray(C) for C in run[f'confusion_{which}'].values()], 0), 'all')


def ratios(raw):
    ("Every reported figure, recomputed from raw timings and confusion matrices "
     "(tests/test_bench.py calls this on the JSON)")
    r = {}
    if 'decode_only_s' in raw:
        lim = raw['loader_n_images'] / raw['decode_only_s']
        r['loader_vs_decode_only'] = (raw['loader_n_images'] / raw['compnb_nocache_s']) / lim
        r['loader_cached_vs_decode_only'] = (raw['loader_n_images'] / raw['compnb_cached_s']) / lim
        r['loader_vs_fastai'] = ((raw['loader_n_images'] / raw['compnb_nocache_s'])
                                 / (raw['fastai_n_images'] / raw['fastai_s']))
    if 'epoch_nocache_s' in raw: r['cache_speedup'] = raw['epoch_nocache_s'] / raw['epoch_cached_s']
    if 'tta_one_view_s' in raw:
        r['tta_cost_over_n'] = raw['tta_n_views_s'] / (raw['tta_n_views'] * raw['tta_one_view_s'])
    if 'step_plain_s' in raw:
        r['fastai_step_over_plain'] = raw['step_fastai_s'] / raw['step_plain_s']
        r['fastai_torch_adam_step_over_plain'] = raw['step_fastai_torch_adam_s'] / raw['step_plain_s']
    if 'first_run_before_s' in raw:
        r['first_run_speedup'] = raw['first_run_before_s'] / raw['first_run_after_s']
        r['first_run_cells_speedup'] = raw['first_run_before_cells_s'] / raw['first_run_after_cells_s']
    runs = raw.get('quality', {}).get('runs', {})
    for name, run in runs.items():
        r[f'f1_{name}_last'], r[f'f1_{name}_last_pooled'] = mean_f1(run), pooled_f1(run)
        if 'confusion_best' in run: r[f'f1_{name}_best'] = mean_f1(run, 'best')
    if {'compnb_group', 'fastai_group'} <= set(runs):
        r['quality_gain_last'] = r['f1_compnb_group_last'] - r['f1_fastai_group_last']
        r['quality_gain_last_pooled'] = r['f1_compnb_group_last_pooled'] - r['f1_fastai_group_last_pooled']
    if {'compnb_group', 'compnb_random'} <= set(runs):
        r['leak_gap_last'] = r['f1_compnb_random_last'] - r['f1_compnb_group_last']
    for name in runs:
        if name.startswith('variant_') and 'compnb_group' in runs:
            r[f'{name}_gain_last'] = r[f'f1_{name}_last'] - r['f1_compnb_group_last']
    if 'gpu' in raw: r.update(gpu_ratios(raw['gpu']))
    return r


def gpu_ratios(g):
    "Figures of bench/gpu.py's results (img/s and their ratios), recomputed from its raw image counts and seconds"
    ok = lambda *ks: all('images' in g.get(k, {}) for k in ks)
    ips = lambda x: x['images'] / x['seconds']
    r = {}
    if ok('timm_synthetic'): r['gpu_timm_synthetic_img_s'] = ips(g['timm_synthetic'])
    if ok('fit'): r['gpu_fit_img_s'] = ips(g['fit'])
    if ok('fit', 'timm_synthetic'): r['gpu_fit_vs_timm_synthetic'] = ips(g['fit']) / ips(g['timm_synthetic'])
    for s, x in g.get('stages', {}).items(): r[f'gpu_stage_{s}_img_s'] = ips(x)
    if ok('compile_on', 'fit'): r['gpu_compile_speedup'] = ips(g['compile_on']) / ips(g['fit'])  # fit: compile off
    if ok('ddp_synthetic', 'timm_synthetic'):
        r['gpu_ddp_synthetic_vs_synthetic'] = ips(g['ddp_synthetic']) / ips(g['timm_synthetic'])
    if ok('ddp_1proc', 'fit_history'): r['gpu_torchrun_1proc_vs_fit'] = ips(g['ddp_1proc']) / ips(g['fit_history'])
    if g.get('gpu_util', {}).get('samples_pct'): r['gpu_util_mean_pct'] = float(np.mean(g['gpu_util']['samples_pct']))
    return r


GOALS = {'loader_vs_decode_only': '≥ 0.85 (quick preset, 2 workers)', 'loader_cached_vs_decode_only': 'informational',
         'loader_vs_fastai': '≥ 2', 'cache_speedup': '≥ 4', 'tta_cost_over_n': '≤ 1.05',
         'fastai_step_over_plain': '≤ 1.10 (CPU; GPU not measured)',
         'fastai_torch_adam_step_over_plain': 'informational: separates the optimiser from the loop',
         'first_run_cells_speedup': '≥ 2 (01_eda + 02_split, fresh cache: the cells, what a user waits for running '
                                    'them; before ÷ after)',
         'first_run_speedup': 'informational: the same as papermill wall time, with ~5 s of papermill and kernel '
                              'start-up that no change to compnb moves',
         'quality_gain_last': '≥ +0.10 (compnb − plain fastai, last epoch vs last epoch, mean per-fold macro-F1)',
         'quality_gain_last_pooled': 'informational: the same on pooled OOF macro-F1',
         'leak_gap_last': 'informational: random KFold − group folds (how much a leaky split flatters)',
         'gpu_fit_vs_timm_synthetic': '≥ 0.95 (H100, resnet50, 224 px, bf16, channels_last)',
         'gpu_compile_speedup': 'informational',
         'gpu_torchrun_1proc_vs_fit': 'informational (≈ 1: no DDP at WORLD_SIZE 1)',
         'gpu_ddp_synthetic_vs_synthetic': 'informational: cost of the DDP wrapper, 1 process',
         'gpu_util_mean_pct': 'informational: loader starvation check'}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument('--quick', action='store_true'); g.add_argument('--full', action='store_true')
    ap.add_argument('--variants', default=','.join(VARIANTS),
                    help='--full: comma-separated recipe variants to run ("" for none)')
    ap.add_argument('--resume', action='store_true',
                    help='keep the items and runs already in bench/results/<name>.json.partial')
    a = ap.parse_args()
    name = 'quick' if a.quick else 'full'
    out, partial = ROOT/'bench'/'results'/f'{name}.json', ROOT/'bench'/'results'/f'{name}.json.partial'
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    raw = {'machine': f'{platform.machine()} · {os.cpu_count()} cores · {platform.python_version()} · '
                      f'torch {torch.__version__}',
           'date': time.strftime('%Y-%m-%d'), 'command': 'python bench/run.py ' + ('--quick' if a.quick else '--full'),
           'load_avg_start': os.getloadavg(), 'done': []}
    if a.resume and partial.exists(): raw = json.loads(partial.read_text())
    variants = [v for v in a.variants.split(',') if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad: ap.error(f'unknown variant(s) {bad}: use {list(VARIANTS)}')
    t0 = time.perf_counter() - raw.get('total_s', 0)
    items = [(f.__name__, f, f.__doc__) for f in (bench_loader, bench_cache, bench_tta, bench_step, bench_first_run)]
    if a.full: items.append(('bench_quality', lambda raw: bench_quality(raw, variants, partial), bench_quality.__doc__))
    for fname, f, doc in items:
        if fname in raw['done']: continue
        print(f'… {doc.splitlines()[0]}', flush=True); f(raw)
        raw['done'].append(fname); raw['total_s'] = time.perf_counter() - t0
        save_json(raw, partial)
    raw['total_s'] = time.perf_counter() - t0
    raw['load_avg_end'] = os.getloadavg()
    raw['ratios'] = ratios(raw)
    for k, v in raw['ratios'].items(): print(f'{k}: {v:.4f} (goal {GOALS.get(k, "informational")})')
    save_json(raw, out)  # atomic, like every compnb output
    partial.unlink(missing_ok=True)
    print(f'raw timings: {out} ({raw["total_s"]:.0f} s)')


if __name__ == '__main__': main()
