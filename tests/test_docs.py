"""The docs: README.md is written from nbs/index.ipynb; `make docs` renders the notebooks (stages executed on the
sample) and headless Chromium shows the pages with their plots."""
import shutil, subprocess, sys, re
from pathlib import Path
import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT/'scripts'))
import docs, readme

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync']


def test_readme_is_index():
    assert (ROOT/'README.md').read_text() == readme.render(), 'run python scripts/readme.py'


def test_quarto_files_exist():
    q = (ROOT/'nbs'/'_quarto.yml').read_text()
    for f in re.findall(r'metadata-files: \[(.*)\]', q)[0].split(', ') + ['styles.css']:
        assert (ROOT/'nbs'/f).exists(), f
    assert (ROOT/'nbs'/'sidebar.yml').read_text() == docs.sidebar_yml(), 'sidebar.yml is stale: run make docs'


def chromium(*args, tmp):
    return subprocess.run([CHROMIUM, *FLAGS, f'--user-data-dir={tmp/"profile"}', *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason='Debian chromium not installed (.ci/run installs it)')
def test_docs_render_in_chromium(sample_run, tmp_path):
    out = docs.build(sample_run, tmp_path/'_docs')
    dom = chromium('--dump-dom', (out/'index.html').as_uri(), tmp=tmp_path).stdout
    assert 'compnb' in dom and '01_eda.html' in dom and 'Your own competition' in dom
    eda = chromium('--dump-dom', (out/'01_eda.html').as_uri(), tmp=tmp_path).stdout
    assert eda.count('<img') >= 5 and 'data:image/png;base64' in eda  # the plots, embedded
    shot = tmp_path/'01_eda.png'
    chromium('--window-size=1280,1600', f'--screenshot={shot}', (out/'01_eda.html').as_uri(), tmp=tmp_path)
    assert shot.stat().st_size > 50_000
