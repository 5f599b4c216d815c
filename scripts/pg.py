"""A throwaway PostgreSQL server for `compnb tune --storage postgresql://…` (developers: `make pg`; tests: conftest's
`pg_url`). `initdb` into a new temporary folder, listening on 127.0.0.1 at a free port (and a unix socket in that
folder), trust authentication, fsync off; stopped and deleted at the end. As root (CI, containers) the server runs as
an unprivileged user (`postgres`, else `nobody`): initdb refuses root. Needs Debian's `postgresql` package (or any
PostgreSQL whose `initdb` is on PATH or under /usr/lib/postgresql/<version>/bin).

    python scripts/pg.py        # prints the URL and serves until Ctrl-C
"""
import contextlib, glob, os, pwd, shutil, socket, subprocess, sys, tempfile, time

DB, ROLE = 'optuna', 'compnb'


def pg_bin():
    "The folder of PostgreSQL's server programs (initdb, pg_ctl), or None"
    if (p := shutil.which('initdb')): return os.path.dirname(os.path.realpath(p))
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/initdb'), key=lambda p: int(p.split('/')[-3].split('.')[0]))
    return os.path.dirname(found[-1]) if found else None


def _user():
    "(name, uid, gid) the server runs as: this user, or an unprivileged one when this is root"
    if os.geteuid(): return None
    for name in ('postgres', 'nobody'):
        with contextlib.suppress(KeyError):
            u = pwd.getpwnam(name)
            return name, u.pw_uid, u.pw_gid
    raise RuntimeError('running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as')


def _as(user, cmd):
    "`cmd` run as `user` (runuser where it exists, else su)"
    if user is None: return cmd
    if shutil.which('runuser'): return ['runuser', '-u', user[0], '--', *cmd]
    return ['su', user[0], '-s', '/bin/sh', '-c', ' '.join(map(repr, cmd))]


def _free_port():
    with contextlib.closing(socket.socket()) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run(cmd, what):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode: raise RuntimeError(f'{what} failed ({r.returncode}): {(r.stdout + r.stderr)[-2000:]}')


@contextlib.contextmanager
def server():
    "Start a throwaway server; yields its URL (postgresql://compnb@127.0.0.1:PORT/optuna); stops and deletes it after"
    bin_ = pg_bin()
    if bin_ is None: raise RuntimeError('no PostgreSQL server programs (apt-get install postgresql)')
    user, tmp = _user(), tempfile.mkdtemp(prefix='compnb-pg-')
    data, log, port = os.path.join(tmp, 'data'), os.path.join(tmp, 'server.log'), _free_port()
    if user: os.chown(tmp, user[1], user[2])
    ctl = lambda *a: _as(user, [os.path.join(bin_, 'pg_ctl'), '-D', data, *a])
    try:
        _run(_as(user, [os.path.join(bin_, 'initdb'), '-D', data, '-U', ROLE, '-A', 'trust', '--no-sync', '-E', 'UTF8']),
             'initdb')
        opts = f"-h 127.0.0.1 -p {port} -k {tmp} -F -c max_connections=100"
        _run(ctl('-o', opts, '-l', log, '-w', '-t', '60', 'start'), f'pg_ctl start (log: {log})')
        _run([os.path.join(bin_, 'createdb'), '-h', '127.0.0.1', '-p', str(port), '-U', ROLE, DB], 'createdb')
        yield f'postgresql://{ROLE}@127.0.0.1:{port}/{DB}'
    finally:
        if os.path.exists(os.path.join(data, 'postmaster.pid')):
            subprocess.run(ctl('-m', 'immediate', '-w', 'stop'), capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    with server() as url:
        print(f'PostgreSQL is up: {url}\n  compnb tune -f space.yaml --storage {url}\nCtrl-C stops and deletes it.',
              flush=True)
        try:
            while True: time.sleep(3600)
        except KeyboardInterrupt: pass
    sys.exit(0)
