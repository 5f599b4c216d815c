"""`make test` step 1: nbdev_clean and nbdev_export must leave nbs/ and compnb/ exactly as they are.

Hashes the files before and after running both, so it works in a clean clone (CI) and in a
working tree with uncommitted edits alike; it fails listing the files that would change."""
import hashlib, subprocess, sys
from pathlib import Path

root = Path(__file__).resolve().parents[1]
bin_dir = Path(sys.executable).parent

def snapshot():
    files = [p for d in ('nbs', 'compnb') for p in (root/d).rglob('*')
             if p.is_file() and '__pycache__' not in p.parts and '.ipynb_checkpoints' not in p.parts]
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest() for p in files}

before = snapshot()
subprocess.run([str(bin_dir/'nbdev_clean')], cwd=root, check=True)
subprocess.run([str(bin_dir/'nbdev_export')], cwd=root, check=True)
after = snapshot()
changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
if changed:
    print('nbdev_clean/nbdev_export changed these files (now rewritten; review and commit them):')
    for c in changed: print('  ', c)
    sys.exit(1)
print('nbs/ is clean and compnb/ matches the notebooks')
