"""The near-duplicate detector's precision and recall on planted copies of real images (see BENCHMARKS.md).

    python bench/dups.py                 # bee_health and clothing10 (about a minute on 2 CPU cores), + the digits
    python bench/dups.py --sources 50    # fewer planted families

Per data set: a pool of real images that are certainly not copies of each other (greedy: no two closer than a mean
absolute grey difference of 8 at 16 px), 100 of them planted 4 times (re-encoded JPEG, resized, cropped 1-4% per
side, colour-shifted) and hashed with the rest. A found pair is true when both images come from one source;
recall counts (source, copy) pairs found. The old rule (pHash <= 6 and dHash <= 4) runs on the same images.
Writes bench/results/dups.csv.
"""
import argparse, io, os, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image, ImageEnhance

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent/'shared'/'data'
KINDS = ('jpeg', 'resize', 'crop', 'colour')


def plant(im, rng):
    "The four copies of PIL image `im`: re-encoded JPEG, resized, slightly cropped, colour-shifted"
    w, h = im.size
    b = io.BytesIO(); im.save(b, 'JPEG', quality=int(rng.integers(50, 86)))
    s = rng.uniform(0.5, 1.6)
    c = rng.uniform(0.01, 0.04, 4)
    x = ImageEnhance.Brightness(im).enhance(rng.uniform(0.8, 1.2))
    x = ImageEnhance.Contrast(x).enhance(rng.uniform(0.8, 1.2))
    x = ImageEnhance.Color(x).enhance(rng.uniform(0.6, 1.4))
    x = np.clip(np.asarray(x).astype(int) + rng.integers(-15, 16, 3), 0, 255).astype(np.uint8)
    return {'jpeg': Image.open(b).convert('RGB'),
            'resize': im.resize((max(8, round(w * s)), max(8, round(h * s))), Image.BICUBIC),
            'crop': im.crop((round(w * c[0]), round(h * c[1]), w - round(w * c[2]), h - round(h * c[3]))),
            'colour': Image.fromarray(x)}


def distinct(thumbs, min_mad=8.0, seed=0):
    "Indices of a greedy set of images no two of which are within `min_mad` mean absolute grey difference at 16 px"
    from scipy.spatial.distance import cdist
    t = thumbs.reshape(len(thumbs), 16, 2, 16, 2).mean((2, 4)).reshape(len(thumbs), -1)
    d = cdist(t, t, 'cityblock') / t.shape[1]
    keep = []
    for i in np.random.default_rng(seed).permutation(len(t)):
        if not keep or d[i, keep].min() > min_mad: keep.append(i)
    return np.array(sorted(keep))


def old_rule(h, d=6, verify_d=4):
    "The detector before #26: pHash within `d` on some crop variants and dHash within `verify_d` on the same ones"
    from compnb.dups import near_pairs
    V = sum(c.startswith('phash') for c in h.columns)
    ph = np.stack([h[f'phash{v}'].values for v in range(V)], 1).reshape(-1)
    dh = np.stack([h[f'dhash{v}'].values for v in range(V)], 1).reshape(-1)
    p = near_pairs(ph, d)
    p = p[np.bitwise_count(dh[p[:, 0]] ^ dh[p[:, 1]]) <= verify_d] // V
    p = p[p[:, 0] != p[:, 1]]
    return np.unique(np.sort(p, 1), axis=0) if len(p) else np.zeros((0, 2), np.int64)


def score(pairs, family, is_source, kind, n_sources):
    "Precision over found pairs, recall over (source, copy) pairs, recall per copy kind"
    pairs = np.asarray(pairs).reshape(-1, 2)
    a, b = pairs[:, 0], pairs[:, 1]
    true = (family[a] >= 0) & (family[a] == family[b])
    src_copy = true & (is_source[a] ^ is_source[b])
    k = np.where(is_source[a], kind[b], kind[a])
    per = {f'recall_{c}': round(float((src_copy & (k == c)).sum()) / n_sources, 3) for c in KINDS}
    return dict(found=int(len(pairs)), false=int((~true).sum()),
                precision=round(float(true.mean()) if len(pairs) else 1.0, 3),
                recall=round(float(src_copy.sum()) / (len(KINDS) * n_sources), 3), **per)


def bench_set(name, n_sources, tmp, seed=0, ratios=(0.3, 0.4, 0.5), dists=(6, 8)):
    from compnb.images import image_hashes
    from compnb.dups import dup_pairs, hash_candidates, MAX_RATIO
    root = SHARED/name
    lab = pd.read_csv(root/'labels.csv')
    t0 = time.perf_counter()
    h0 = image_hashes(root, list(lab.image))
    pool = distinct(np.stack(h0.thumb.values)[:, 0].astype(np.float32), seed=seed)
    rng = np.random.default_rng(seed)
    src = rng.choice(pool, n_sources, replace=False)
    paths, family, is_source, kind = [str(root/p) for p in lab.image[pool]], [], [], []
    fam = {int(i): k for k, i in enumerate(src)}
    family = [fam.get(int(i), -1) for i in pool]; is_source = [int(i) in fam for i in pool]; kind = [''] * len(pool)
    d = Path(tmp)/name; d.mkdir(parents=True)
    from compnb.images import open_image
    for i in src:
        for c, im in plant(open_image(root/lab.image[i]), rng).items():
            p = d/f'{i}_{c}.png'; im.save(p)
            paths.append(str(p)); family.append(fam[int(i)]); is_source.append(False); kind.append(c)
    family, is_source, kind = np.array(family), np.array(is_source), np.array(kind)
    h = image_hashes('/', [p.lstrip('/') for p in paths])
    rows = []
    for d in dists:
        t1 = time.perf_counter()
        pairs, r = dup_pairs(h, d, max_ratio=max(ratios), return_ratio=True)
        t_dup = time.perf_counter() - t1
        cand = hash_candidates(h, d)
        rows.append(dict(data=name, rule=f'pHash<={d} candidates only',
                         **score(cand, family, is_source, kind, n_sources)))
        rows += [dict(data=name, rule=f'pHash<={d}, ratio<={m}' + (' (default)' if (m, d) == (MAX_RATIO, 6) else ''),
                      **score(pairs[r <= m], family, is_source, kind, n_sources)) for m in ratios]
    rows.append(dict(data=name, rule='old (pHash<=6, dHash<=4)', **score(old_rule(h), family, is_source, kind,
                                                                          n_sources)))
    print(f'{name}: {len(pool)} distinct real images of {len(lab)}, {n_sources} planted x {len(KINDS)}; '
          f'dup_pairs {t_dup:.2f} s on {len(h)} images (all {time.perf_counter() - t0:.0f} s)')
    return rows


def digits_rows(ratios=(0.3, 0.4, 0.5), d=6):
    "The embedded sample, train and test: every pair is a false one (the digits hold no copies)"
    from compnb.data import read_comp
    from compnb.images import image_hashes
    from compnb.dups import dup_pairs, MAX_RATIO
    comp = read_comp('sample')
    h = image_hashes(comp.root, list(comp.train.image) + list(comp.test))
    _, r = dup_pairs(h, d, max_ratio=max(ratios), return_ratio=True)
    rows = [dict(data='sample (digits)', rule=f'pHash<={d}, ratio<={m}' + (' (default)' if m == MAX_RATIO else ''),
                 found=int((r <= m).sum()), false=int((r <= m).sum())) for m in ratios]
    p = old_rule(h)
    return rows + [dict(data='sample (digits)', rule='old (pHash<=6, dHash<=4)', found=int(len(p)), false=int(len(p)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sources', type=int, default=100, help='planted families per data set')
    ap.add_argument('--sets', default='bee_health,clothing10')
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ['COMPNB_CACHE'] = str(Path(tmp)/'cache')  # the copies' facts never reach the user's cache
        rows = [r for s in a.sets.split(',') if (SHARED/s).exists() for r in bench_set(s, a.sources, tmp)]
        rows += digits_rows()
    df = pd.DataFrame(rows)
    (ROOT/'bench'/'results').mkdir(exist_ok=True)
    df.to_csv(ROOT/'bench'/'results'/'dups.csv', index=False)
    print(df.to_markdown(index=False) if 'tabulate' in sys.modules or _has_tabulate() else df.to_string(index=False))


def _has_tabulate():
    try: import tabulate  # noqa: F401
    except ImportError: return False
    return True


if __name__ == '__main__': main()
