"""Kaggle round trip without the network: a packed inference notebook run with compnb from the packed wheel alone,
against local stand-ins for /kaggle/input and /kaggle/working."""
import json, os, shutil, subprocess
from pathlib import Path
import torch
import compnb
from conftest import COMPNB, exec_nb, fresh_venv, user_env
from compnb.core import load_json
from compnb.kaggle import check_kernel_meta
from compnb.sample import make_sample


def blended_run(run, tmp):
    "A copy of `run` whose 04_infer blends a second model on the same folds (its last layer halved)"
    main, other = tmp/'main', tmp/'other'
    shutil.copytree(run, main, ignore=shutil.ignore_patterns('*.ipynb'))
    shutil.copytree(run/'train', other/'train')
    best = other/'train'/'fold0'/'best.pth'
    sd = torch.load(best, map_location='cpu')
    last = [k for k in sd if k.endswith('.weight')][-1]
    torch.save({**sd, last: sd[last] * 0.5}, best)
    exec_nb('04_infer', main, runs=str(other), tta='orig,hflip', overwrite=True)
    return main, other


def test_packed_notebook_from_the_wheel(sample_run, runs, tmp_path):
    """A `compnb run` run, blended with a second, packed (compnb's wheel built by pack); its notebook executed by a
    python where compnb comes from that wheel only, on stand-ins for Kaggle: working/submission.csv is the run's"""
    main, other = blended_run(sample_run, tmp_path)
    pack = tmp_path/'pack'
    r = subprocess.run([COMPNB, 'pack', str(main), str(pack), '--comp', 'digits-sample', '--no-deps', '--user', 'me'],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'WARNING' in r.stdout and 'fastai 2.8.7' in r.stdout  # --no-deps: not for Kaggle's image
    nbdir, w = pack/'notebook', pack/'weights'
    km = json.loads((nbdir/'kernel-metadata.json').read_text())
    assert check_kernel_meta(km, nbdir) and km['enable_internet'] is False and km['kernel_type'] == 'notebook'
    assert km['dataset_sources'] == ['me/main-weights', 'me/compnb-wheels'] and km['model_sources'] == []
    packed = w/'blend'/'1-other'/'train'/'fold0'/'best.pth'  # the blended run travels too
    assert packed.read_bytes() == (other/'train'/'fold0'/'best.pth').read_bytes()
    assert load_json(w/'infer'/'infer.json')['blend_weights'] == load_json(main/'infer'/'infer.json')['blend_weights']
    assert (pack/'wheels'/'requirements.txt').read_text().split() == [f'compnb=={compnb.__version__}']
    # stand-ins for Kaggle's read-only inputs and writable working folder
    inp, work = tmp_path/'kaggle'/'input', tmp_path/'kaggle'/'working'
    inp.mkdir(parents=True); work.mkdir(parents=True)
    (inp/'digits-sample').symlink_to(make_sample())
    for d, sub in zip(km['dataset_sources'], ('weights', 'wheels')): (inp/d.split('/')[1]).symlink_to(pack/sub)
    # a python with the image's packages and without compnb, until the packed wheel is installed
    py = fresh_venv(tmp_path/'kaggle-env')
    env = py.parent.parent
    clean = user_env(py, COMPNB_KAGGLE_INPUT=str(inp), COMPNB_KAGGLE_WORKING=str(work), KAGGLE_KERNEL_RUN_TYPE='Batch')
    run = lambda *a: subprocess.run([str(py), *a], env=clean, cwd=str(work), capture_output=True, text=True)
    assert 'No module named' in run('-c', 'import compnb').stderr
    # -I: pip would take the editable compnb of the venv behind the .pth for this one
    r = run('-m', 'pip', 'install', '-q', '--no-index', '--no-deps', '-I', '--find-links', str(pack/'wheels'), '-r',
            str(pack/'wheels'/'requirements.txt'))
    assert r.returncode == 0, r.stderr[-2000:]
    r = run('-m', 'papermill', str(nbdir/km['code_file']), str(work/'executed.ipynb'), '-k', 'python3',
            '--cwd', str(work), '--no-progress-bar')
    assert r.returncode == 0, r.stderr[-3000:]
    out = ''.join(''.join(o.get('text', '')) for c in json.loads((work/'executed.ipynb').read_text())['cells']
                  for o in c.get('outputs', []))
    origin = next(l for l in out.splitlines() if l.startswith('compnb ')).split(' from ')[1]
    assert Path(origin).is_relative_to(env), origin  # the wheel's compnb, not the checkout's
    assert (work/'submission.csv').read_bytes() == (main/'infer'/'submission.csv').read_bytes()
    # nothing fitted on OOF was predicted or fitted again: the run's infer.json was read
    assert not (work/'run'/'infer'/'boost.csv').exists()
    res = load_json(work/'run'/'infer'/'infer.json')
    assert res['fitted_from'] == str(inp/'main-weights'/'infer'/'infer.json') and len(res['runs']) == 2


def test_fetch_and_submit_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith('KAGGLE_')}
    env.update(HOME=str(tmp_path), KAGGLE_CONFIG_DIR=str(tmp_path/'none'))
    (tmp_path/'run'/'infer').mkdir(parents=True); (tmp_path/'run'/'infer'/'submission.csv').write_text('id,label\n')
    for args in (['fetch', 'x'], ['submit', str(tmp_path/'run'), '-m', 'first', '--comp', 'x']):
        r = subprocess.run([COMPNB, *args], capture_output=True, text=True, env=env)
        assert r.returncode == 1 and r.stdout == ''
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and 'kaggle.json' in lines[0] and 'KAGGLE_USERNAME' in lines[0], r.stderr
