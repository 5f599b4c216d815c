"bench/results/*.json: every reported ratio is recomputed from the raw timings beside it."
import importlib.util, json
from pathlib import Path
import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location('bench_run', ROOT/'bench'/'run.py')
bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
RESULTS = sorted((ROOT/'bench'/'results').glob('*.json'))


@pytest.mark.parametrize('path', RESULTS, ids=[p.name for p in RESULTS])
def test_ratios_recomputed(path):
    raw = json.loads(path.read_text())
    assert raw['machine'] and raw['date'] and raw['command'].startswith(('python bench/run.py', 'bash bench/gpu.sh'))
    again = bench.ratios(raw)
    assert set(again) == set(raw['ratios'])
    for k, v in again.items(): assert v == pytest.approx(raw['ratios'][k], rel=1e-9), k


def test_results_exist():
    assert (ROOT/'bench'/'results'/'quick.json').exists()
