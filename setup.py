"Packaging from settings.ini, as nbdev 2 projects do (without the deprecated pkg_resources)."
from configparser import ConfigParser
from pathlib import Path
import shutil, setuptools
from setuptools.command.build_py import build_py

config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['Planning', 'Pre-Alpha', 'Alpha', 'Beta', 'Production/Stable', 'Mature', 'Inactive']
lic = licenses[cfg['license'].lower()]
requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
postgres_requirements = cfg.get('postgres_requirements', '').split()
scripts = [s.strip() for s in cfg.get('console_scripts', '').split('\n') if s.strip()]

# The stage notebooks and starting configs ship inside the package (compnb/nbs, compnb/configs), so an installed
# compnb runs its stages and `compnb init` makes workspaces from any folder. The clone keeps them at the top level,
# where an editable install finds them (compnb.core.shipped); they are copied only into built wheels.
SHIPPED = {'nbs': ['0[1-5]_*.ipynb'], 'configs': ['*.yaml']}

class BuildPy(build_py):
    def run(self):
        if getattr(self, 'editable_mode', False): return super().run()
        # build/ is reused between builds: start the package afresh, so no deleted module or notebook ships
        shutil.rmtree(Path(self.build_lib)/cfg['lib_path'], ignore_errors=True)
        super().run()
        for sub, pats in SHIPPED.items():
            dst = Path(self.build_lib)/cfg['lib_path']/sub
            dst.mkdir(parents=True)
            for f in sorted(f for pat in pats for f in Path(sub).glob(pat)): shutil.copy2(f, dst/f.name)

setuptools.setup(
    cmdclass={'build_py': BuildPy},
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    license=lic[0], author=cfg['author'], author_email=cfg['author_email'],
    keywords=cfg['keywords'], url=cfg['git_url'],
    classifiers=['Development Status :: ' + cfg['status'] + ' - ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(), 'License :: ' + lic[1],
                 'Natural Language :: ' + cfg['language'].title(),
                 'Programming Language :: Python :: 3'],
    packages=setuptools.find_packages(include=[cfg['lib_path'], cfg['lib_path'] + '.*']),
    include_package_data=True, python_requires='>=' + cfg['min_python'],
    install_requires=requirements, extras_require={'dev': dev_requirements, 'postgres': postgres_requirements},
    long_description=open('README.md', encoding='utf-8').read(), long_description_content_type='text/markdown',
    zip_safe=False, entry_points={'console_scripts': scripts, 'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d']},
)
