"""Quiet runs: an executed stage notebook and a `compnb run` log hold no warning the user cannot act on (a library's
deprecation inside fastai, tqdm without ipywidgets, the kernel's plain-TCP notice, papermill failing to parse a
parameter). Warnings the user can act on (label noise, missing weights …) stay."""
import json
from conftest import STAGES

NOISE = ('FutureWarning', 'TqdmWarning', 'without encryption', 'Unable to parse')


def outputs(nb_path):
    "Every text a notebook's cells printed: streams (stdout, stderr), errors, plain-text results"
    for c in json.loads(nb_path.read_text())['cells']:
        for o in c.get('outputs', []):
            yield ''.join(o.get('text', '')) + '\n'.join(o.get('traceback', [])) + ''.join(
                o.get('data', {}).get('text/plain', ''))


def test_runs_are_quiet(sample_pair):
    "Both `compnb run` of the shared sample runs: A with --quiet, B streaming every notebook's output into its log"
    assert sample_pair.codes == [0, 0], [l.read_text()[-3000:] for l in sample_pair.logs]
    texts = {str(l): l.read_text() for l in sample_pair.logs}
    texts |= {f'{r/s}.ipynb': '\n'.join(outputs(r/f'{s}.ipynb')) for r in (sample_pair.a, sample_pair.b)
              for s in STAGES}
    assert 'recipe: ' in texts[str(sample_pair.logs[1])]  # B's log holds its notebooks' output
    found = {f'{w} in {k}': t[max(0, t.find(w) - 150):t.find(w) + 150]
             for k, t in texts.items() for w in NOISE if w in t}
    assert not found, '\n'.join(f'{k}: …{v}…' for k, v in found.items())
