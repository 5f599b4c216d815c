"Kaggle round trip without the network: the packed inference notebook against a local stand-in for /kaggle/input."
import json, os, subprocess
from pathlib import Path
import papermill as pm
from conftest import COMPNB
from compnb.sample import make_sample


def test_packed_notebook_reproduces_submission(sample_run, tmp_path, monkeypatch):
    "A run trained by `compnb run` (fold 0, TTA orig+hflip), packed, and its notebook run on stand-ins for Kaggle"
    run, pack = sample_run, tmp_path/'pack'
    r = subprocess.run([COMPNB, 'pack', str(run), str(pack), '--comp', 'digits-sample', '--no-wheels', '--user', 'me'],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    km = json.loads((pack/'notebook'/'kernel-metadata.json').read_text())
    assert km['enable_internet'] is False and km['dataset_sources'] == ['me/run-weights', 'me/compnb-wheels']
    # stand-ins for Kaggle's read-only inputs and writable working folder
    inp, work = tmp_path/'kaggle'/'input', tmp_path/'kaggle'/'working'
    inp.mkdir(parents=True); work.mkdir(parents=True)
    (inp/'digits-sample').symlink_to(make_sample())
    (inp/km['dataset_sources'][0].split('/')[1]).symlink_to(pack/'weights')
    for k, v in dict(COMPNB_KAGGLE_INPUT=inp, COMPNB_KAGGLE_WORKING=work, KAGGLE_KERNEL_RUN_TYPE='Batch').items():
        monkeypatch.setenv(k, str(v))
    nb = pack/'notebook'/km['code_file']
    pm.execute_notebook(str(nb), str(work/'executed.ipynb'), cwd=str(work), progress_bar=False, kernel_name='python3')
    a, b = (run/'infer'/'submission.csv').read_bytes(), (work/'run'/'infer'/'submission.csv').read_bytes()
    assert a == b


def test_fetch_and_submit_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith('KAGGLE_')}
    env.update(HOME=str(tmp_path), KAGGLE_CONFIG_DIR=str(tmp_path/'none'))
    (tmp_path/'run'/'infer').mkdir(parents=True); (tmp_path/'run'/'infer'/'submission.csv').write_text('id,label\n')
    for args in (['fetch', 'x'], ['submit', str(tmp_path/'run'), '-m', 'first', '--comp', 'x']):
        r = subprocess.run([COMPNB, *args], capture_output=True, text=True, env=env)
        assert r.returncode == 1 and r.stdout == ''
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and 'kaggle.json' in lines[0] and 'KAGGLE_USERNAME' in lines[0], r.stderr
