import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'
SHARED = ROOT.parent/'shared'/'data'
BEE, CLOTHING = SHARED/'bee_health', SHARED/'clothing10'
STAGES = ['01_eda', '02_split', '03_train', '04_infer']
COMPNB = str(Path(sys.executable).parent/'compnb')  # the console script of this venv
os.environ['COMPNB_HEADLESS'] = '1'


def run_nb(name, run_dir, **params):
    "Execute nbs/<name>.ipynb headless with papermill into run_dir/<name>.ipynb (the kernel is a fresh process)"
    import papermill as pm
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    out = Path(run_dir)/f'{name}.ipynb'
    pm.execute_notebook(str(NBS/f'{name}.ipynb'), str(out), parameters=dict(run_dir=str(run_dir), **params),
                        cwd=str(NBS), progress_bar=False, kernel_name='python3')
    return out


@pytest.fixture
def runs(tmp_path, monkeypatch):
    "Isolated runs root (ledger included)"
    monkeypatch.setenv('COMPNB_RUNS', str(tmp_path/'runs'))
    return tmp_path/'runs'


def need(path):
    if not path.exists(): pytest.skip(f'{path} not found (../shared data sets)')
    return path
