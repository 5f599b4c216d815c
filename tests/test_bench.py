"bench/results/*.json: every reported ratio is recomputed from the raw timings beside it."
import importlib.util, json
from pathlib import Path
import pytest
from conftest import ROOT

spec = importlib.util.spec_from_file_location('bench_run', ROOT/'bench'/'run.py')
bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
RESULTS = sorted(p for p in (ROOT/'bench'/'results').glob('*.json') if p.name != 'finetune.json')


@pytest.mark.parametrize('path', RESULTS, ids=[p.name for p in RESULTS])
def test_ratios_recomputed(path):
    raw = json.loads(path.read_text())
    assert raw['machine'] and raw['date'] and raw['command'].startswith(('python bench/run.py', 'bash bench/gpu.sh'))
    again = bench.ratios(raw)
    assert set(again) == set(raw['ratios'])
    for k, v in again.items(): assert v == pytest.approx(raw['ratios'][k], rel=1e-9), k


def test_results_exist():
    assert (ROOT/'bench'/'results'/'quick.json').exists()


def test_finetune_table():
    "BENCHMARKS.md's fine-tuning table is what bench/finetune.py makes of bench/results/finetune.json"
    spec = importlib.util.spec_from_file_location('bench_finetune', ROOT/'bench'/'finetune.py')
    ft = importlib.util.module_from_spec(spec); spec.loader.exec_module(ft)
    raw = json.loads((ROOT/'bench'/'results'/'finetune.json').read_text())
    assert raw['machine'] and raw['date'] and raw['command'].startswith('python bench/finetune.py')
    md = (ROOT/'BENCHMARKS.md').read_text()
    assert ft.markdown(raw) in md and ft.probe_markdown(raw) in md
