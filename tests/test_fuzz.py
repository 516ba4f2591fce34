"""Generated HTTP requests against every NNViz route, through TensorBoard's own app.

Over a real log dir (``tests.conftest.logdir``) and werkzeug's test client,
hypothesis sends well over 1,000 requests: every route with generated,
repeated and missing parameters (unicode, huge and negative numbers,
non-numeric and oversized values), random paths under ``/data/plugin/nnviz/``,
and static-file traversal and absolute-path attempts. Every answer must be a
2xx or 4xx with TensorBoard's security headers; traversal must be a 404 that
leaks nothing.
"""

import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import PREFIX
from tests.helpers import STATIC_SECRET as SECRET

ROUTES = ("/tags", "/heatmap", "/trajectory", "/projection", "/overview", "/findings", "/spectral", "/graph",
          "/index.js")
KEYS = ("run", "tag", "step", "diff")
EXAMPLES = 180  # x 10 requests each

text = st.text(max_size=30)  # any unicode except surrogates (URLs carry UTF-8)
numbers = st.one_of(
    st.integers(-(10**40), 10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["-0", "+10", " 10", "10 ", "0x10", "1e3", "١٠", "9" * 18, "9" * 19, "00000000000000000010", ""]),
)
oversized = st.integers(1_000, 60_000).map(lambda n: "é" * n)
known = {
    "run": st.sampled_from(["a", "b", "zz", "a/..", "../a", "a\x00"]),
    "tag": st.sampled_from(["dense/kernel", "dense/bias", "conv/kernel", "nope", "dense/kernel/nnviz_heatmap"]),
    "step": st.sampled_from(["0", "10", "20", "30", "11"]),
    "diff": st.sampled_from(["none", "prev", "first", "last", "NONE"]),
}


@st.composite
def params(draw):
    """A list of (key, value): keys may repeat or be missing; values of any kind."""
    pairs = []
    for _ in range(draw(st.integers(0, 7))):
        key = draw(st.sampled_from(KEYS) | text)
        value = draw(st.one_of(known.get(key, text), text, numbers, oversized) if draw(st.booleans())
                     else known.get(key, text))
        pairs.append((key, value))
    return pairs


raw_query = st.one_of(
    st.sampled_from(["", "&&&", "run", "run=&tag=&step=", "%ff%fe=%c0", "run=a&run=b&run=a", "step=%00", "=",
                     "run=a&tag=dense/kernel&step=10&step=20", "run=a;tag=x", "%"]),
    text.map(lambda t: urllib.parse.quote(t, safe="=&%;")),
)

traversal = st.sampled_from([
    "../secret.js", "%2e%2e/secret.js", "..%2fsecret.js", "..%5csecret.js", "chunks/../../secret.js",
    "/etc/passwd", "%2fetc%2fpasswd", "//etc/passwd", "..", ".", "./index.js", "index.js%00.css",
    "C:%5cwindows%5cwin.ini", "%252e%252e/secret.js", "....//secret.js", "chunks/%2e%2e/%2e%2e/secret.js",
]) | st.builds(lambda a, b: a + "/../" + b, text, text).map(lambda p: urllib.parse.quote(p, safe="/%"))

random_path = st.one_of(
    text.map(lambda t: urllib.parse.quote(t, safe="/%.")),
    st.sampled_from(ROUTES).map(lambda r: r[1:] + "/extra"),
    st.sampled_from(["", "/", "tags/", "TAGS", "static", "static/", "index.js/", "heatmap;x"]),
)


def _check(response, path):
    status = response.status_code
    assert 200 <= status < 300 or 400 <= status < 500, (path, status, response.get_data()[:300])
    assert response.headers.get("X-Content-Type-Options") == "nosniff", (path, dict(response.headers))
    if response.mimetype == "text/html":
        assert "Content-Security-Policy" in response.headers, path
    assert SECRET.encode() not in response.get_data()
    return status


def test_generated_requests_never_fail_the_server(static_client):
    sent = []

    def get(path, query=""):
        url = path + ("?" + query if query else "")
        response = static_client.get(url)
        sent.append(_check(response, url))
        return sent[-1]

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(
        pairs=params(),
        raw=raw_query,
        experiment=st.none() | text.map(lambda t: urllib.parse.quote(t, safe="")),
        sub=random_path,
        attack=traversal,
    )
    def run(pairs, raw, experiment, sub, attack):
        prefix = PREFIX if experiment is None else "/experiment/%s%s" % (experiment or "e", PREFIX)
        query = urllib.parse.urlencode(pairs)
        for route in ROUTES:
            get(prefix + route, query)
        get(PREFIX + "/heatmap", raw)
        get(prefix + "/" + sub, query)
        assert get(PREFIX + "/static/" + attack) == 404, attack

    run()
    assert len(sent) >= 1000, len(sent)
    assert {200, 400, 404} <= set(sent), sorted(set(sent))  # reached data, checks and lookups
    print("statuses:", {code: sent.count(code) for code in sorted(set(sent))})


def test_known_good_requests_still_succeed(static_client):
    """The fuzzing above is not vacuous: the same client serves real data."""
    for url in [PREFIX + "/tags", PREFIX + "/heatmap?run=a&tag=dense/kernel&step=10",
                PREFIX + "/trajectory?run=a&tag=dense/bias", PREFIX + "/projection?run=a&run=b",
                PREFIX + "/overview?run=b", PREFIX + "/spectral?run=a&tag=conv/kernel&step=20",
                PREFIX + "/index.js"]:
        assert _check(static_client.get(url), url) == 200, url
