"""`make demo`: run 01_eda → 02_split → 03_train → 04_infer with papermill on the embedded sample
into one run folder, then score submission.csv against the sample's answer key."""
import os, sys, time
from pathlib import Path
import pandas as pd, papermill as pm

root = Path(__file__).resolve().parents[1]
os.environ.setdefault('COMPNB_HEADLESS', '1')
from compnb.core import get_run_dir, log
from compnb.data import make_sample

t0 = time.time()
run = get_run_dir(sys.argv[1] if len(sys.argv) > 1 else '', 'demo')
stages = [('01_eda', {}), ('02_split', {}), ('03_train', {'fold': 0, 'epochs': 8}), ('04_infer', {})]
for nb, params in stages:
    log(f'== {nb} → {run/(nb + ".ipynb")}')
    try:
        pm.execute_notebook(str(root/'nbs'/f'{nb}.ipynb'), str(run/f'{nb}.ipynb'), parameters=dict(run_dir=str(run), **params),
                            cwd=str(root/'nbs'), progress_bar=False, stdout_file=sys.stdout, stderr_file=sys.stderr)
    except pm.PapermillExecutionError as e:
        print(f'\n{nb} failed: {e.ename}: {e.evalue}\nThe executed notebook with the error: {run/(nb + ".ipynb")}')
        sys.exit(1)

sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str)
ans = pd.read_csv(make_sample()/'answers.csv', dtype=str).set_index('id').loc[sub.id]
acc = (sub.label.values == ans.label.values).mean()
print(f'\nsubmission: {run/"infer"/"submission.csv"}')
print(f'accuracy on the sample answer key: {acc:.4f} ({len(sub)} test images, {time.time() - t0:.0f} s)')
