"""Tag data shaped like real multi-label sets (tests/tagset.py): the trained model beats the best constant, a model of
shuffled labels is told loudly that it does not, and the metrics tag competitions use flow through training."""
import json
import pandas as pd, pytest
from conftest import exec_nb
from tagset import make_tagset, submission_scores
from compnb.core import load_json


def _stdout(nb):
    text = lambda t: t if isinstance(t, str) else ''.join(t)
    return ''.join(text(o.get('text', '')) for c in nb.cells for o in c.get('outputs', []) if o.get('name') == 'stdout')


@pytest.fixture(scope='module')
def tagset(tmp_path_factory):
    return make_tagset(tmp_path_factory.mktemp('tags')/'ts', n_train=400, n_test=100)


def test_tags_beat_the_constant_with_defaults(tagset, runs, tmp_path):
    "No reader or metric setting: read as tags, samples-F1 by default, the submission beats the best constant, ~cardinality"
    run = tmp_path/'run'
    exec_nb('03_train', run, data=str(tagset), fold=0, epochs=5)  # the data's recipe, shorter
    exec_nb('04_infer', run, data=str(tagset))
    m = load_json(run/'train'/'metrics.json')
    assert m['metric'] == 'samples_f1' and m['beats_constant'] and m['cv'] > m['constant']['score']
    f1, const, what = submission_scores(tagset, run/'infer'/'submission.csv')
    assert f1 > const + 0.1, (f1, const, what)
    tpi = load_json(run/'infer'/'infer.json')['tags_per_image']
    assert tpi['within_50pct'] and abs(tpi['submission'] - tpi['train']) <= 0.5 * tpi['train'], tpi


def test_shuffled_labels_say_they_do_not_beat_the_constant(tmp_path, runs):
    d = make_tagset(tmp_path/'shuffled', n_train=200, n_test=20, shuffle=True)
    nb = exec_nb('03_train', tmp_path/'run', data=str(d), fold=0, epochs=1)
    out, m = _stdout(nb), load_json(tmp_path/'run'/'train'/'metrics.json')
    assert m['beats_constant'] is False
    assert f"WARNING: the CV does not beat the best constant: samples_f1 {m['cv']:.4f} vs " \
           f"{m['constant']['score']:.4f}" in out, out[-2000:]


@pytest.mark.parametrize('metric', ['micro_f1', 'map', 'log_loss'])
def test_tag_metrics_flow_to_checkpoints_and_cv(tmp_path, runs, metric):
    d = make_tagset(tmp_path/'ts', n_train=120, n_test=10)
    exec_nb('03_train', tmp_path/'run', data=str(d), fold=0, epochs=1, metric=metric, n_folds=2)
    m, h = load_json(tmp_path/'run'/'train'/'metrics.json'), pd.read_csv(tmp_path/'run'/'train'/'fold0'/'history.csv')
    assert m['metric'] == metric and metric in h.columns and m['constant'] and m['higher'] == (metric != 'log_loss')
