"""The npm clients of tests/test_web.py (buf curl, connect-node), installed into the build
directory from tests/web/package.json; again only when that file changed. ctest runs it as the
web test's fixture, with a time limit of its own for the download; test_web.py calls it too, when
run by hand. Exits 1 with npm's output when the install fails."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from harness import BUILD_DIR, SOURCE_DIR  # noqa: E402

NPM_DIR = os.path.join(BUILD_DIR, "web-npm")
PACKAGE_JSON = os.path.join(SOURCE_DIR, "tests", "web", "package.json")


class InstallFailed(Exception):
    pass


def npm_clients():
    """node_modules with the clients; None when node or npm is not installed."""
    if not shutil.which("node") or not shutil.which("npm"):
        return None
    with open(PACKAGE_JSON) as f:
        wanted = f.read()
    os.makedirs(NPM_DIR, exist_ok=True)
    stamp = os.path.join(NPM_DIR, "installed-package.json")
    modules = os.path.join(NPM_DIR, "node_modules")
    if os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == wanted:
                return modules
    with open(os.path.join(NPM_DIR, "package.json"), "w") as f:
        f.write(wanted)
    # npm's own limits (5 minutes a request, retried) would outlast any test's: an unreachable
    # registry fails in about a minute.
    r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline",
                        "--fetch-timeout", "60000", "--fetch-retries", "1",
                        "--cache", os.path.join(NPM_DIR, "npm-cache")], cwd=NPM_DIR,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    if r.returncode != 0:
        raise InstallFailed("npm install in %s failed:\n%s" % (NPM_DIR, r.stdout[-4000:]))
    with open(stamp, "w") as f:
        f.write(wanted)
    return modules


if __name__ == "__main__":
    try:
        modules = npm_clients()
    except InstallFailed as e:
        sys.exit(str(e))
    print(modules or "node or npm is not installed: the web test skips its npm clients")
