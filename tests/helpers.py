"""HTTP helpers shared by the backend tests: TensorBoard's app as a werkzeug client.

``make_client`` builds TensorBoard's own WSGI application over a log dir, with
its flag parsing and Python loader (``LocalDataIngester``), loaded once;
``get_json`` and ``get_heatmap`` fetch a plugin route and check its status and
content type; ``route_findings`` collects the findings route of every run.
The ``static_client`` fixture built on them is in ``tests/conftest.py``.
"""

import json

from tensorboard import program
from tensorboard.backend import application
from tensorboard.backend.event_processing import data_ingester
from tensorboard.plugins.core import core_plugin
from werkzeug import test as werkzeug_test

from tb_nnviz.format import heatmap_body
from tb_nnviz.serve import plugin

#: Where TensorBoard serves the plugin's routes.
PREFIX = "/data/plugin/nnviz"
#: Content of a file beside the static dir (reached only through a symlink in it).
STATIC_SECRET = "SECRET-CONTENT"


def make_flags(logdir, *argv):
    """TensorBoard's parsed flags, after every loader's ``fix_flags``."""
    tb = program.TensorBoard(plugins=[core_plugin.CorePluginLoader(), plugin.NNVizLoader()])
    tb.configure(argv=[None, "--logdir", str(logdir), *argv])
    return tb


def make_client(logdir, *argv):
    """A werkzeug client of TensorBoard's app over ``logdir`` (Python loader, loaded once)."""
    tb = make_flags(logdir, "--reload_interval", "0", "--reload_task", "blocking", *argv)
    ingester = data_ingester.LocalDataIngester(tb.flags)
    ingester.start()
    app = application.TensorBoardWSGIApp(
        tb.flags, tb.plugin_loaders, ingester.data_provider, None, ingester.deprecated_multiplexer
    )
    return werkzeug_test.Client(app)


def get_json(client, path, **query):
    """The JSON body of route ``path`` (under ``PREFIX``); asserts a 200 JSON answer."""
    response = client.get(PREFIX + path, query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/json"
    return json.loads(response.get_data(as_text=True))


def get_heatmap(client, **query):
    """``(header, planes)`` of the heatmap route's binary body; asserts a 200 binary answer."""
    response = client.get(PREFIX + "/heatmap", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "application/octet-stream"
    return heatmap_body.decode_heatmap(response.get_data())


def route_findings(logdir):
    """``{run: [finding, ...]}`` of every run, through the plugin's findings route
    (its ``findings``; ``route_notes`` collects its ``notes``)."""
    client = make_client(logdir)
    runs = json.loads(client.get(PREFIX + "/tags").get_data(as_text=True))["runs"]
    out = {}
    for run in runs:
        response = client.get(PREFIX + "/findings", query_string={"run": run})
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.headers["Content-Type"] == "application/json"
        body = json.loads(response.get_data(as_text=True))
        assert sorted(body) == ["findings", "notes"], body
        out[run] = body["findings"]
    return out
