"""`make demo`: run 01_eda → 02_split → 03_train → 04_infer on the embedded sample into one run folder
(the same runner as `compnb run`), then score submission.csv against the sample's answer key."""
import os, sys, time
import pandas as pd

os.environ.setdefault('COMPNB_HEADLESS', '1')
from compnb.sample import make_sample
from compnb.runner import run_pipeline, StageFailed

t0 = time.time()
try: run = run_pipeline({'03_train': {'fold': 0, 'epochs': 8}}, run_dir=sys.argv[1] if len(sys.argv) > 1 else '',
                        name='demo')
except StageFailed as e: print(f'\n{e}'); sys.exit(1)
sub = pd.read_csv(run/'infer'/'submission.csv', dtype=str)
ans = pd.read_csv(make_sample()/'answers.csv', dtype=str).set_index('id').loc[sub.id]
acc = (sub.label.values == ans.label.values).mean()
print(f'\nsubmission: {run/"infer"/"submission.csv"}')
print(f'accuracy on the sample answer key: {acc:.4f} ({len(sub)} test images, {time.time() - t0:.0f} s)')
print(f'ledger: compnb compare --root {run.parent}')
