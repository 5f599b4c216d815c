"""README.md is written from nbs/index.ipynb (the docs' landing page), as nbdev does, without needing Quarto:
the markdown cells joined by blank lines. `python scripts/readme.py` rewrites it; `--check` only compares."""
import json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render(nb_path=ROOT/'nbs'/'index.ipynb'):
    cells = json.loads(Path(nb_path).read_text())['cells']
    return '\n\n'.join(''.join(c['source']).strip('\n') for c in cells if c['cell_type'] == 'markdown') + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT/'README.md'
    if '--check' in sys.argv:
        if readme.read_text() != text: sys.exit('README.md differs from nbs/index.ipynb: run python scripts/readme.py')
        print('README.md matches nbs/index.ipynb')
    else: readme.write_text(text)
