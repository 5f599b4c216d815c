"""Faults over the whole pipeline: bad input stops a stage with a message naming the file, row or column (nothing
written); odd images decode; kills lose no finished work; concurrent runs corrupt nothing. The stages run in this
process (as nbdev_test runs them); a failing stage under papermill and the CLI is in test_experiments.py."""
import hashlib, io, json, os, re, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd, pytest
from PIL import Image
from conftest import NBS, ROOT, BEE, need, exec_nb
from compnb.core import CompError, update_json, save_csv
from compnb.ledger import record_run, read_ledger
from compnb.data import read_comp
from compnb.images import open_image, read_image


def img(path, color='red', size=(16, 16), mode='RGB', **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, **kw)
    return path


def mini(root, rows='id,label\na,x\nb,y\nc,y\nd,x\ne,x\nf,y\n', files='abcdef', test=('t1', 't2'),
         sub='id,label\nt1,x\nt2,x\n'):
    "A tiny competition: train/ + train.csv, test/ + sample_submission.csv"
    rng = np.random.default_rng(0)
    for f in files:  # distinct random images: flat colours would all be near-duplicates of each other
        (root/'train').mkdir(parents=True, exist_ok=True)
        (Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).resize((48, 48))
              .save(root/'train'/f'{f}.png'))
    for t in test: img(root/'test'/f'{t}.png')
    (root/'train.csv').write_text(rows)
    if sub is not None: (root/'sample_submission.csv').write_text(sub)
    return root


def snapshot(d):
    return {str(p.relative_to(d)): hashlib.sha1(p.read_bytes()).hexdigest() for p in Path(d).rglob('*') if p.is_file()}


def run_stage(stage, run, **params):
    run.mkdir(parents=True, exist_ok=True)
    return exec_nb(stage, run, save=False, **params)


def fails(stage, tmp_path, data, *patterns, run=None, **params):
    "The stage must fail with CompError naming what's wrong, and leave the run folder as it was"
    run = run or tmp_path/'run'
    run.mkdir(parents=True, exist_ok=True)
    before = snapshot(run)
    with pytest.raises(CompError) as e: run_stage(stage, run, data=str(data), **params)
    for p in patterns: assert re.search(p, str(e.value)), f'{p!r} not in: {e.value}'
    assert snapshot(run) == before, 'the failed stage wrote into run_dir'
    return str(e.value)


def corrupt(d, name, how):
    p = d/'train'/f'{name}.png'
    if how == 'truncated':
        img(p, size=(300, 300), color=(10, 200, 30)); raw = p.read_bytes(); p.write_bytes(raw[:len(raw) // 3])
    elif how == 'zero': p.write_bytes(b'')
    elif how == 'text': p.write_text('<html>no image here</html>')
    elif how == 'gone': p.unlink()

# --- 1. bad inputs through the stages --------------------------------------------------------------

CSV_FAULTS = {  # name: (train.csv text, patterns the message must contain, params)
    'label NaN': ('id,label\na,x\nb,\nc,y\nd,x\ne,\nf,y\n', [r'train\.csv', "column 'label'", 'rows 2, 5'], {}),
    'all labels NaN': ('id,label\na,\nb,\nc,\nd,\ne,\nf,\n',
                       [r'train\.csv', "column 'label' is empty in every row"], {}),
    'duplicate ids': ('id,label\na,x\nb,y\nc,y\na,x\ne,x\nf,y\n',
                      [r'train\.csv', "column 'id'", "'a' on rows 1, 4"], {}),
    'missing column': (None, [r'train\.csv', "no column 'kind'", r"label_col='kind'"], {'label_col': 'kind'}),
    'no label column': ('id,a,b\na,x,1\nb,y,1\nc,y,1\nd,x,1\ne,x,1\nf,y,1\n',
                        [r'train\.csv', 'cannot tell which column holds the labels', 'label_col='], {}),
    'empty csv': ('', [r'train\.csv is empty'], {}),
    'header only': ('id,label\n', [r'train\.csv has a header but no rows'], {}),
    'image column names nothing': ('id,label\nq1,x\nq2,y\nq3,y\nq4,x\nq5,x\nq6,y\n',
                                   [r"train\.csv column 'id'", 'none of the first images'], {}),
    'unknown class to merge': (None, [r"unknown class\(es\) \['zebra'\]"], {'merge_classes': 'zebra>x'}),
}

@pytest.mark.parametrize('fault', CSV_FAULTS)
def test_bad_table(fault, runs, tmp_path):
    rows, pats, params = CSV_FAULTS[fault]
    d = mini(tmp_path/'comp', **({'rows': rows} if rows is not None else {}))
    fails('02_split', tmp_path, d, *pats, **params)


@pytest.mark.parametrize('how,pattern', [('truncated', r'train/b\.png \(row 2\): truncated or corrupt'),
                                         ('zero', r'train/b\.png \(row 2\): zero-byte'),
                                         ('text', r'train/b\.png \(row 2\): not an image'),
                                         ('gone', r"not found.*row 2 'b'")])
def test_bad_image(how, pattern, runs, tmp_path):
    d = mini(tmp_path/'comp'); corrupt(d, 'b', how)
    msg = fails('02_split', tmp_path, d, pattern)
    if how != 'gone': assert 'on_bad="skip"' in msg  # says what to do


def test_class_with_zero_images_after_skipping(runs, tmp_path):
    d = mini(tmp_path/'comp', rows='id,label\na,x\nb,y\nc,y\nd,x\ne,x\nf,z\n')
    corrupt(d, 'f', 'zero')
    fails('02_split', tmp_path, d, r"class\(es\) \['z'\] have no images left", on_bad='skip')


def test_test_ids_vs_sample_submission(runs, tmp_path):
    d = mini(tmp_path/'comp', sub='id,label\nt1,x\nt9,x\n')
    fails('04_infer', tmp_path, d, r'sample_submission\.csv', r"row 2 't9'")
    d2 = mini(tmp_path/'comp2', test=('t1', 't2', 'stray'))
    fails('04_infer', tmp_path, d2, r'stray\.png', 'does not list')


def test_folds_and_pseudo_files(runs, tmp_path):
    d = mini(tmp_path/'comp')
    run = tmp_path/'run'
    (run/'split').mkdir(parents=True)
    # another data set
    (run/'split'/'folds.csv').write_text('image,fold\ntrain/a.png,0\ntrain/b.png,1\ntrain/zz.png,0\n')
    fails('03_train', tmp_path, d, r'folds\.csv does not match the training data', 'train/zz.png', run=run)
    (run/'split'/'folds.csv').write_text(
        'image,fold\n' + ''.join(f'train/{f}.png,{k}\n' for f, k in zip('abcdef', [0, 1, 'x', 0, 1, 0])))
    fails('03_train', tmp_path, d, r'folds\.csv', 'column fold', 'rows 3', run=run)
    (run/'split'/'folds.csv').write_text(
        'image,fold\n' + ''.join(f'train/{f}.png,{k % 2}\n' for k, f in enumerate('abcdef')))
    (tmp_path/'pseudo.csv').write_text('image,label\ntest/t1.png,x\ntest/t2.png,giraffe\n')
    fails('03_train', tmp_path, d, r'pseudo\.csv', "unknown label", 'rows 2', "'giraffe'", run=run,
          pseudo=str(tmp_path/'pseudo.csv'))


def test_bom_and_semicolons_read(runs, tmp_path):
    d = mini(tmp_path/'comp', rows='\ufeffid;label\na;x\nb;y\nc;y\nd;x\ne;x\nf;y\n')
    run_stage('02_split', tmp_path/'run', data=str(d), n_folds=2)
    assert len(pd.read_csv(tmp_path/'run'/'split'/'folds.csv')) == 6

# --- 2, 3. odd but valid images; on_bad='skip' -------------------------------------------------------

def test_odd_images(tmp_path):
    img(tmp_path/'rgba.png', (1, 2, 3, 4), mode='RGBA'); img(tmp_path/'grey.png', 99, mode='L')
    img(tmp_path/'pal.png', 3, mode='P'); img(tmp_path/'cmyk.jpg', (0, 255, 0, 0), mode='CMYK')
    Image.fromarray((np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)).save(tmp_path/'i16.png')
    ex = Image.Exif(); ex[0x0112] = 6  # rotate 90°
    Image.new('RGB', (40, 20), 'blue').save(tmp_path/'exif.jpg', exif=ex)
    for f in ('rgba.png', 'grey.png', 'pal.png', 'cmyk.jpg', 'i16.png', 'exif.jpg'):
        assert open_image(tmp_path/f).mode == 'RGB', f
    a = np.asarray(open_image(tmp_path/'i16.png'))
    assert a.min() == 0 and a.max() >= 250 and 100 < a.mean() < 160  # scaled to 8-bit, not clipped to white
    assert open_image(tmp_path/'exif.jpg').size == (20, 40)  # EXIF orientation applied


def test_very_large_image_memory(tmp_path):
    big = tmp_path/'big.jpg'
    x = np.linspace(0, 255, 8000, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(x, (8000, 1))] * 3, -1)).save(big, quality=80)
    code = (f"import resource; from compnb.images import read_image\n"
            f"r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            f"a = read_image({str(big)!r}, 128); assert a.shape == (128, 128, 3)\n"
            f"print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0) * 1024)")
    grown = int(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                               check=True).stdout.split()[-1])
    assert grown < 1 << 30, f'peak RSS grew {grown / 2**20:.0f} MiB decoding an 8000×8000 JPEG'


def test_on_bad_skip_through_the_stage(runs, tmp_path):
    d = mini(tmp_path/'comp'); corrupt(d, 'c', 'truncated')
    with pytest.warns(UserWarning) as w: run_stage('02_split', tmp_path/'run', data=str(d), n_folds=2, on_bad='skip')
    folds = pd.read_csv(tmp_path/'run'/'split'/'folds.csv')
    assert 'train/c.png' not in set(folds.image) and len(folds) == 5
    out = ' '.join(str(m.message) for m in w)
    assert 'skipped 1 unreadable image' in out and 'train/c.png' in out

# --- 4. interruptions ------------------------------------------------------------------------------

def test_sigkill_during_training_then_resume(runs, tmp_path):
    run = tmp_path/'run'; run.mkdir()
    cmd = [str(Path(sys.executable).parent/'papermill'), str(NBS/'03_train.ipynb'), str(tmp_path/'o.ipynb'),
           '--cwd', str(NBS),
           '-p', 'run_dir', str(run), '-p', 'fold', '0', '-p', 'epochs', '6', '-p', 'size', '48', '-p', 'seed', '3']
    p = subprocess.Popen(cmd, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = run/'train'/'fold0'/'s0_e1.pth'
    t0 = time.time()
    while not ck.exists() and time.time() - t0 < 120 and p.poll() is None: time.sleep(0.05)
    assert ck.exists(), 'training never reached epoch 2'
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    hist = pd.read_csv(run/'train'/'fold0'/'history.csv')
    done = len(hist)
    assert 2 <= done < 6 and not (run/'train'/'fold0'/'oof.csv').exists()
    first = hist.iloc[0].to_dict()
    subprocess.run(cmd + ['-p', 'resume', 'True'], check=True, capture_output=True)
    hist2 = pd.read_csv(run/'train'/'fold0'/'history.csv')
    # finished work kept, nothing redone twice
    assert list(hist2.epoch) == list(range(6)) and hist2.iloc[0].to_dict() == first
    assert (run/'train'/'oof.csv').exists() and json.loads((run/'train'/'metrics.json').read_text())['folds']['0']


def test_sigkill_while_writing_submission_keeps_previous(tmp_path):
    sub = tmp_path/'submission.csv'
    good = pd.DataFrame({'id': range(5), 'label': 'x'}); save_csv(good, sub)
    code = ("import pandas as pd, numpy as np; from compnb.core import save_csv\n"
            f"df = pd.DataFrame({{'id': np.arange(3_000_000), 'label': 'y' * 20}})\n"
            f"print('go', flush=True); save_csv(df, {str(sub)!r})")
    p = subprocess.Popen([sys.executable, '-c', code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'go'
    time.sleep(0.3); p.send_signal(signal.SIGKILL); p.wait()
    assert pd.read_csv(sub).equals(good)  # the previous submission, whole

# --- 5. concurrency --------------------------------------------------------------------------------

def test_two_runs_share_ledger_and_cache(tmp_path):
    code = ("import sys; from pathlib import Path; from compnb.core import update_json; "
            "from compnb.ledger import record_run\n"
            "w = sys.argv[1]; run = Path(sys.argv[2])/('run' + w); run.mkdir(parents=True, exist_ok=True)\n"
            "for i in range(150):\n"
            "    record_run(run, 'stage', {'writer': w, 'i': i}, {'x': 'y' * 500})\n"
            "    update_json(Path(sys.argv[2])/'cache.json', {f'{w}-{i}': i})\n")
    ps = [subprocess.Popen([sys.executable, '-c', code, w, str(tmp_path)]) for w in 'ab']
    assert all(p.wait() == 0 for p in ps)
    led = read_ledger(tmp_path)
    assert len(led) == 300 and {(r['writer'], r['i']) for r in led.params} == {(w, i) for w in 'ab' for i in range(150)}
    assert len(json.loads((tmp_path/'cache.json').read_text())) == 300

# --- 6. determinism ----------------------------------------------------------------------------------

def test_same_seed_same_first_epoch(tmp_path):
    from compnb.split import make_folds
    from compnb.train import train_config, fit_fold
    comp = read_comp('sample')
    folds = make_folds(comp.train, 5, seed=1)
    cfg = train_config(comp, epochs=1, aug='quick', num_workers=2, seed=5)
    rows = []
    for k in range(2):
        fit_fold(comp, folds, 0, cfg, tmp_path/f'o{k}', device='cpu', headless=True)
        rows.append(pd.read_csv(tmp_path/f'o{k}'/'fold0'/'history.csv').drop(columns='seconds').iloc[0].to_dict())
    assert rows[0] == rows[1]
