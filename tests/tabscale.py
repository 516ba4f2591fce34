"""What the tab-at-scale tests measure in the NNViz frame, shared by test_tab_scale and test_tab_resnet18.

The page-size targets (DOM elements and document height), the frame's address
(``nv_`` keys), scrolling top to bottom one step per animation frame, waiting
for a filtered layer's section to come on screen, and the names each panel
shows.
"""

#: Page-size targets of issue 27: at load and after scrolling to the bottom.
MAX_DOM = 5000
MAX_HEIGHT = 20000

#: The plugin frame's DOM size, document height and scroll position.
MEASURE = """() => ({dom: document.getElementsByTagName('*').length,
    height: document.documentElement.scrollHeight,
    canvases: document.getElementsByTagName('canvas').length,
    cards: document.querySelectorAll('[data-testid=card]').length,
    bottom: window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 1})"""

#: What every panel shows (visible elements only): layer sections, structure rows,
#: overview rows, heatmap cards and findings (their layer; "" for run-wide ones).
SHOWN = """() => {
    const vis = s => [...document.querySelectorAll(s)].filter(e => e.offsetParent !== null);
    return {groups: vis('[data-testid=group]').map(g => g.dataset.group),
            structure: vis('[data-testid=structure-layer]').map(e => e.dataset.layer),
            overview: vis('[data-testid=overview-row]').map(e => e.dataset.tag),
            cards: vis('[data-testid=card]').map(e => e.dataset.tag),
            findings: vis('[data-testid=finding]').map(e => e.dataset.layer)}; }"""


def nv_hash(**kv):
    """The tab's address: ``nnviz&nv_<key>=<value>...``."""
    return "nnviz&" + "&".join("nv_%s=%s" % (k, v) for k, v in kv.items())


def findings_settled(frame, timeout=60000):
    """Waits until the Findings panel has stopped loading."""
    frame.wait_for_function(
        "() => !document.querySelector('[data-testid=findings-panel]').hasAttribute('data-loading')",
        timeout=timeout)


def scroll_frames(frame, step=150):
    """Scrolls the tab from top to bottom, one step per animation frame; returns the frame times (ms)."""
    return frame.evaluate("""step => new Promise(done => {
        window.scrollTo(0, 0);
        const times = []; let last = performance.now();
        const tick = now => {
            times.push(now - last); last = now;
            const max = document.documentElement.scrollHeight - window.innerHeight;
            if (window.scrollY >= max - 1 || times.length > 2000) return done(times.slice(1));
            window.scrollBy(0, step);
            requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
    })""", step)


def pct(xs, p):
    """The ``p``-th percentile of ``xs`` (nearest rank)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def wait_group_on_screen(frame, group, timeout=5000):
    """Waits until layer ``group``'s section has a card and its top is on screen."""
    frame.wait_for_function("""g => {
        const c = [...document.querySelectorAll('[data-testid=group]')].find(e => e.dataset.group === g);
        if (!c || !c.querySelector('[data-testid=card]')) return false;
        const r = c.getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight - 100; }""",
                            arg=group, timeout=timeout)
