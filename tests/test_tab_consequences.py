"""A cause's consequences in the Findings panel, in real TensorBoard and real Chromium.

The findings route nests what a cause explains under it (``consequences``, each
with ``caused_by``; tb_nnviz/diagnose/compose.py), and ``tb-nnviz report`` prints
them indented under their cause. The tab showed the causes only: a user who saw
"lr too high" never learned that the dead units and the plateau were its doing.

The run: a torch ``Sequential`` MLP trained with SGD at a learning rate of 3 under
``watch``, with a per-step ``loss`` scalar, as the README shows. Its weights bounce
(``lr_too_high``) and the rules nest what follows from that under it.
Screenshots land in test-artifacts/consequences-*.png.
"""

import os

import pytest
import torch

import tb_nnviz.torch
from tests import browser, tab_runs, tbserver

ARTIFACTS = os.path.join(tbserver.REPO, "test-artifacts")
RUN = "bouncing"


def write(logdir):
    from torch.utils.tensorboard import SummaryWriter

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 3))
    opt = torch.optim.SGD(net.parameters(), lr=3.0)
    x = torch.randn(512, 20)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    run = os.path.join(str(logdir), RUN)
    with tb_nnviz.torch.watch(net, run, opt), SummaryWriter(run) as scalars:
        for step in range(200):
            i = torch.randint(0, len(x), (32,))
            loss = torch.nn.functional.cross_entropy(net(x[i]), y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            scalars.add_scalar("loss", loss.item(), step)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("consequences")
    write(logdir)
    with tbserver.tensorboard(logdir) as url:
        tbserver.wait_for(lambda: tbserver.route_json(url, "tags"), lambda t: RUN in t.get("runs", {}))
        found = tbserver.wait_for(lambda: tab_runs.findings_of(url, RUN),
                                  lambda f: any(g.get("consequences") for g in f), timeout=90)
        yield url, found


def _landed(frame, layer):
    charts = frame.locator('[data-testid="layer-charts"][data-layer="%s"]' % layer)
    frame.wait_for_function("""e => { const top = e.getBoundingClientRect().top;
        const head = document.querySelector('.nv-header').getBoundingClientRect().bottom;
        return top >= head - 1 && top < head + 60; }""", arg=charts.element_handle(), timeout=10000)


def test_consequences_open_under_their_cause_and_link_to_their_layers(served, browser_):
    url, found = served
    cause = next(f for f in found if f.get("consequences"))
    kinds = [c["kind"] for c in cause["consequences"]]
    assert all(c["caused_by"] == cause["kind"] for c in cause["consequences"])
    tab = browser.open_ready(browser_, url)
    frame = tab.frame
    browser.findings_loaded(frame, RUN)
    row = frame.locator('[data-testid="finding"][data-kind="%s"]' % cause["kind"])
    # The consequences come right after their cause, closed, and say what they are.
    box = row.locator("xpath=following-sibling::*[1]")
    assert box.get_attribute("data-testid") == "finding-consequences"
    summary = box.locator("summary").inner_text()
    assert summary.startswith("%d consequence" % len(kinds)), summary
    assert all(k.replace("_", " ") in summary for k in kinds), (summary, kinds)
    rows = box.locator('[data-testid="finding-consequence"]')
    assert rows.count() == len(kinds) and not rows.first.is_visible()
    box.locator("summary").click()
    assert [r.get_attribute("data-kind") for r in rows.all()] == kinds
    assert all(r.is_visible() for r in rows.all())
    assert [r.locator(".nv-finding-msg").inner_text() for r in rows.all()] == [
        c["message"] for c in cause["consequences"]]
    # One row per cause; the run's line counts what it has, consequences included.
    assert frame.locator('[data-testid="finding"][data-run="%s"]' % RUN).count() == len(found)
    every = [g for f in found for g in [f] + f.get("consequences", [])]
    head = frame.locator('[data-testid="findings-run"][data-run="%s"] .nv-findings-head' % RUN).inner_text()
    for severity in ("error", "warning"):
        n = sum(g["severity"] == severity for g in every)
        assert (("%d %s" % (n, severity)) in head) == bool(n), (head, n, severity)
    os.makedirs(ARTIFACTS, exist_ok=True)
    frame.locator('[data-testid="findings-run"][data-run="%s"]' % RUN).screenshot(
        path=os.path.join(ARTIFACTS, "consequences-open.png"))
    # A consequence about a layer links to that layer's cards, like any finding.
    about = [(r, c) for r, c in zip(rows.all(), cause["consequences"]) if c["layer"]]
    assert about, cause["consequences"]
    r, c = about[0]
    r.locator('[data-testid="finding-link"]').click()
    _landed(frame, c["layer"])
    assert not tab.errors, tab.errors
    tab.page.close()
