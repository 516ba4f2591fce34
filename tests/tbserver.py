"""A real ``tensorboard`` process with the NNViz plugin, for tests, and the JSON of its routes."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Works whether or not tb-nnviz is installed (see cli.tensorboard_plugins).
_LAUNCH = """
import sys
from tensorboard import program
from tb_nnviz.cli import tensorboard_plugins
tb = program.TensorBoard(plugins=tensorboard_plugins())
tb.configure(argv=[None] + sys.argv[1:])
sys.exit(tb.main())
"""


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def tensorboard(logdir, *flags, timeout=60):
    """Yields the base URL of a TensorBoard serving ``logdir``; stops it afterwards."""
    port = free_port()
    argv = ["--logdir", str(logdir), "--port", str(port), "--host", "localhost", *flags]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    log = open(os.path.join(str(logdir), ".tensorboard.log"), "wb") if os.path.isdir(logdir) else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-c", _LAUNCH, *argv], env=env, stdout=log, stderr=log)
    url = "http://localhost:%d" % port
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError("tensorboard exited with %s; see %s/.tensorboard.log" % (proc.returncode, logdir))
            try:
                urllib.request.urlopen(url + "/data/plugins_listing", timeout=2).read()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log is not subprocess.DEVNULL:
            log.close()


def wait_for(fetch, ready, timeout=60):
    """Calls ``fetch()`` until ``ready(result)``; returns the result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if ready(result):
            return result
        if time.monotonic() > deadline:
            raise TimeoutError("not ready after %ss: %r" % (timeout, result))
        time.sleep(0.3)


def route_json(url, route, **params):
    """The JSON answer of the plugin's ``route`` at the TensorBoard at ``url``; list values repeat the key."""
    query = urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen("%s/data/plugin/nnviz/%s?%s" % (url, route, query)) as r:
        return json.load(r)
