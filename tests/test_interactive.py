"JupyterLab's way: each stage notebook in its own kernel (nbclient), only `data` set, one run folder for all four."
import os
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from conftest import NBS, STAGES


def test_stages_share_one_run(tmp_path, monkeypatch):
    monkeypatch.setenv('COMPNB_HEADLESS', '0')  # interactive, as in JupyterLab
    monkeypatch.setenv('COMPNB_RUNS', str(tmp_path/'runs'))
    for s in STAGES:
        nb = nbformat.read(str(NBS/f'{s}.ipynb'), as_version=4)
        i = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
        nb.cells.insert(i + 1, nbformat.v4.new_code_cell("data = 'sample'"))  # the one thing a user sets
        NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(NBS)}}).execute()
    runs = [d for d in (tmp_path/'runs').iterdir() if d.is_dir()]
    assert len(runs) == 1, runs
    assert all((runs[0]/d).is_dir() for d in ('eda', 'split', 'train', 'infer'))
    assert (runs[0]/'infer'/'submission.csv').exists()
