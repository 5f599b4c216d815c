"""`make docs`: the notebooks as a website under _docs/, without Quarto (nbdev_docs builds the same from
nbs/_quarto.yml where Quarto is installed).

The stage notebooks are executed on the embedded sample (the runner, as `compnb run` does) so their tables and
plots are in the pages; the library notebooks are rendered as they are (code, prose and tests); index.html is
nbs/index.ipynb with a sidebar of links. `python scripts/docs.py [--run DIR]` reuses a run folder whose stage
notebooks were executed already."""
import argparse, html, json, os, re, shutil, sys, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, OUT = ROOT/'nbs', ROOT/'_docs'
STAGES = ['01_eda', '02_split', '03_train', '04_infer', '05_experiments']


def sidebar_yml():
    "nbs/sidebar.yml for nbdev_docs (Quarto): the landing page, the stages, then the library in notebook order"
    names = sorted(p.name for p in NBS.glob('*.ipynb') if p.stem != 'index')
    stages = [n for n in names if Path(n).stem in STAGES]
    lines = ['website:', '  sidebar:', '    contents:', '      - index.ipynb', '      - section: Stages',
             '        contents:']
    lines += [f'          - {n}' for n in stages] + ['      - section: Library', '        contents:']
    return '\n'.join(lines + [f'          - {n}' for n in names if n not in stages]) + '\n'


def executed_stages(run=None):
    "A run folder holding the stage notebooks executed on the sample (made now unless `run` is given)"
    if run: return Path(run)
    os.environ.setdefault('COMPNB_HEADLESS', '1')
    os.environ.setdefault('COMPNB_RUNS', tempfile.mkdtemp(prefix='compnb-docs-'))
    from compnb.runner import run_pipeline, run_stage
    run = run_pipeline({'03_train': {'fold': 0, 'epochs': 2}}, name='docs', quiet=True)
    run_stage('05_experiments', run, {'runs': str(run.parent)}, quiet=True)
    return run


def page(nb_path, title, nav):
    "One notebook as an HTML page (images embedded), with the site's navigation prepended to its body"
    import nbformat
    from nbconvert import HTMLExporter
    body, _ = HTMLExporter(template_name='lab').from_notebook_node(nbformat.read(str(nb_path), as_version=4))
    body = re.sub(r'href="(\d\d\w*|index)\.ipynb', r'href="\1.html', body)  # links between notebooks
    body = body.replace('<title>Notebook</title>', f'<title>{html.escape(title)} · compnb</title>', 1)
    return re.sub(r'(<body[^>]*>)', lambda m: m[1] + nav, body, count=1)


def nav_html(names):
    links = ' · '.join(f'<a href="{n}.html">{n}</a>' for n in names)
    return (f'<nav style="padding:8px 16px;border-bottom:1px solid #ddd;font:14px sans-serif">'
            f'<a href="index.html"><b>compnb</b></a> · {links}</nav>')


def build(run=None, out=OUT):
    run, out = executed_stages(run), Path(out)
    lib = sorted(p.stem for p in NBS.glob('*.ipynb') if p.stem not in STAGES + ['index'])
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    nav = nav_html(STAGES + lib)
    for s in STAGES:
        src = run/f'{s}.ipynb'
        (out/f'{s}.html').write_text(page(src if src.exists() else NBS/f'{s}.ipynb', s, nav))
    for n in lib: (out/f'{n}.html').write_text(page(NBS/f'{n}.ipynb', n, nav))
    (out/'index.html').write_text(page(NBS/'index.ipynb', 'compnb', nav))
    return out


if __name__ == '__main__':
    (NBS/'sidebar.yml').write_text(sidebar_yml())
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--run', default='', help='a run folder with executed stage notebooks (default: run them now)')
    ap.add_argument('--out', default=str(OUT), help='output folder')
    a = ap.parse_args()
    print(f'docs: {build(a.run or None, a.out)/"index.html"}')
