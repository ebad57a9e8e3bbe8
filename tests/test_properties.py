"""Bad input, tried systematically: every input to the CLI, the API and Config gives a valid
config or one clear error line, never a traceback (hypothesis).

No generated input sends load anywhere: Config alone does no I/O; the API and the CLI get URLs
whose host is 127.0.0.1 on a port that refuses connections (bound, never listening), or text
that is not a URL at all, so a valid config ends at the setup probe with ``unable to connect``.
Files the options name (``--json``, ``--body-file``, ``-s``, ``--hdr-log``, ``--plot``) are in a
temporary directory; ``--dask`` (which would start a cluster) is not generated.
"""

from __future__ import annotations

import contextlib
import io
import math
import pickle
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httptools
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pyload
from pyload._cli import build_parser, config_from_args, main
from pyload._http11 import build_request
from pyload.config import Config
from pyload.errors import PyloadError, UsageError

# database=None: no .hypothesis directory in the checkout; failures print their example.
PURE = settings(max_examples=200, deadline=None, database=None)  # no I/O: many examples
PROBING = settings(  # each example may reach the setup probe (a refused connect)
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole module: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        path = Path(name)
        (path / "body.bin").write_bytes(b"\x00\xff body")
        yield path


# -- what the generated inputs are made of -------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12) | st.sampled_from(
    ["\udcff", "\udc80x"]
)  # bytes of an argument that are not UTF-8
NUMBERS = st.sampled_from(["0", "1", "-1", "10", "2k", "1M", "1G", "1.5", "1e3", "0x10", "9" * 30,
                           "", " 1", "1k1", "nan", "inf", "1K", "1m", "k"])  # fmt: skip
TIMES = st.sampled_from(["0", "1", "1s", "2m", "1h", "1.5s", "500ms", "-1s", "1d", "s", "1x",
                         "99999999999h", "1S", ""])  # fmt: skip
RATES = st.sampled_from(["0", "0.5", "-2", "1k", "nan", "inf", "1e400", "1/2", "x", "1e-9"])
PERCENTILES = st.sampled_from(["50", "50,90,99.9", "0", "100", "100.1", "", ",", "50,,90",
                               "nan", "-1", "1e2", "50;90", "99.999999"])  # fmt: skip
HEADERS = st.sampled_from(["X: 1", "X:1", "X", ": v", "X : 1", "X\t: 1", "Host: other",
                           "X: a\x00b", "X-€: 1", "X: €", "X: \udcff"]) | TEXT  # fmt: skip
METHODS = st.sampled_from(["GET", "HEAD", "POST", "get", "G E T", "", "GET\r\n", "M€"]) | TEXT
LOOPS = st.sampled_from(["auto", "uvloop", "asyncio", "trio", ""])


def file_values(folder: Path) -> st.SearchStrategy[str]:
    return st.sampled_from([str(folder / "body.bin"), str(folder / "missing"), str(folder),
                            str(folder / "out.x"), "-"])  # fmt: skip


def flag_values(folder: Path) -> st.SearchStrategy[list[str]]:
    """One flag and its value, as a user might type it (or mistype it)."""
    files = file_values(folder)
    pairs = st.one_of(
        st.tuples(
            st.sampled_from(
                ["-c", "--connections", "-t", "--threads", "-n", "--processes", "--conn"]
            ),
            NUMBERS | TEXT,
        ),
        st.tuples(
            st.sampled_from(["-d", "--duration", "-T", "--timeout", "--warmup"]), TIMES | TEXT
        ),
        st.tuples(st.sampled_from(["-R", "--rate"]), RATES | TEXT),
        st.tuples(st.just("--percentiles"), PERCENTILES | TEXT),
        st.tuples(st.sampled_from(["-H", "--header"]), HEADERS),
        st.tuples(st.sampled_from(["-m", "--method"]), METHODS),
        st.tuples(st.just("--loop"), LOOPS),
        st.tuples(st.just("--body"), TEXT.filter(str.isprintable)),  # (\udcff: test below)
        st.tuples(st.sampled_from(["--body-file", "-s", "--json", "--hdr-log", "--plot"]), files),
    )
    single = st.sampled_from(["-L", "--latency", "-U", "--no-keepalive", "-v", "--nope", "-x",
                              "--no-progress", "--debug"])  # fmt: skip
    return st.lists(
        st.one_of(
            pairs.map(list),
            pairs.map(
                lambda p: (
                    [p[0] + p[1]] if p[0].startswith("-") and len(p[0]) == 2 else [f"{p[0]}={p[1]}"]
                )
            ),  # -c10, --conn=10
            single.map(lambda flag: [flag]),
        ),
        max_size=6,
    ).map(lambda groups: [arg for group in groups for arg in group])


def urls(port: int) -> st.SearchStrategy[str]:
    """URLs that either fail to parse or point at 127.0.0.1:port, which refuses connections."""
    return st.one_of(
        st.builds(lambda path: f"http://127.0.0.1:{port}/{path}", TEXT),
        st.sampled_from(
            [
                f"http://127.0.0.1:{port}",
                f"HTTP://127.0.0.1:{port}/?q=1#f",
                f"http://[127.0.0.1]:{port}/",
                "ftp://127.0.0.1/",
                "http://",
                "http://127.0.0.1:0/",
                "http://127.0.0.1:99999/",
                "http://:80/",
                f"http://127.0.0.1:{port}/ x",
                "127.0.0.1:80",
                "",
                "-",
            ]
        ),
        TEXT.filter(lambda text: "://" not in text),  # never a URL: no scheme
    )


# -- the CLI -------------------------------------------------------------------------------


def run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


@given(data=st.data())
@PROBING
def test_the_command_line_never_gives_a_traceback(refused_port: int, folder: Path, data: Any):
    flags = data.draw(flag_values(folder), label="flags")
    url = data.draw(urls(refused_port), label="url")
    argv = data.draw(st.permutations([*flags, url]), label="argv") if flags else [url]
    status, out, err = run_main(argv)
    if status == 0:  # -v without a URL: the version line, and nothing else
        assert "-v" in argv or "--version" in argv, (argv, out, err)
        assert out.startswith("pyload ") and err == ""
        return
    assert status == 1, (argv, status, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].strip() and "Traceback" not in err, (argv, err)
    assert not out.strip() or out.startswith("pyload "), (argv, out)  # -v's line, at most
    # Nothing was sent: a config that passed every check stopped at the setup probe.
    if "unable to connect" in err:
        assert err == f"unable to connect to 127.0.0.1:{refused_port} Connection refused\n"


ARGS = ["-c", "-t", "-d", "10", "1", "0", "-H", "X: 1", "--", "-L", "http://127.0.0.1:1/", "x"]


@given(argv=st.lists(st.sampled_from(ARGS), max_size=8))
@PURE
def test_argv_maps_to_a_config_or_a_usage_error(argv: list[str]):
    """Without running anything: the parser and Config agree on every argv, and a Config
    that comes out is one Config would build from its own options again."""
    try:
        config = config_from_args(build_parser().parse_args(argv))
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert Config.from_json(config.to_json()) == config


# -- Config and the API --------------------------------------------------------------------

VALUES: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 10**6), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), TEXT, st.lists(st.integers(0, 200), max_size=3),
    st.tuples(st.floats(0, 100)), st.dictionaries(TEXT, TEXT, max_size=2),
    st.sampled_from([b"bytes", object(), ("X", "1"), ["X: 1"], {"X": "1"}, 1 + 2j]),
)  # fmt: skip
OPTIONS = [name for name in pyload.run.__signature__.parameters if name != "url"]  # type: ignore[attr-defined]
SAFE = [name for name in OPTIONS if name not in ("dask", "script", "body_file")]


@given(url=TEXT | st.sampled_from(["http://h/", "https://h:8443/p?q", "http://[::1]:80/",
                                   "http://h:65536/", "http://h:-1/", "http://h:x/", "//h/",
                                   "http://user:pw@h/", "http://h/\u20ac", "http://h/ \t"]),
       options=st.dictionaries(st.sampled_from([*SAFE, "nope"]), VALUES, max_size=5))  # fmt: skip
@example(url="http://h/", options={"percentiles": [float("nan")]})
@example(url="http://h/", options={"rate": float("inf")})
@example(url="http://h/", options={"headers": {"X": "a\r\nEvil: 1"}})
@PURE
def test_config_is_valid_or_one_usage_error(url: Any, options: dict[str, Any]):
    """Config does no I/O: any URL, any value of any option. What it accepts holds together:
    it survives the trip to a worker (pickle) and to JSON, and its request bytes build."""
    if "nope" in options:
        options = {k: v for k, v in options.items() if k != "nope"}
    try:
        config = Config(url, **options)
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc), repr(exc)
        return
    assert config.target.scheme in ("http", "https") and 0 < config.target.port < 65536
    assert config.connections >= config.threads >= 1
    assert math.isfinite(config.duration) and config.duration > 0
    assert all(0 < p <= 100 for p in config.percentiles)
    assert config.rate is None or (math.isfinite(config.rate) and config.rate > 0)
    assert pickle.loads(pickle.dumps(config)) == config
    assert Config.from_json(config.to_json()) == config
    try:
        build_request(config.target, config.headers, config.method)
    except UsageError as exc:
        assert "\n" not in str(exc)


@given(data=st.data())
@PROBING
def test_the_api_raises_a_pyload_error_or_runs(refused_port: int, folder: Path, data: Any):
    """``pyload.run`` with any keywords: a PyloadError with a one-line message, never another
    exception; a config that passes every check stops at the setup probe (nothing is sent)."""
    url = data.draw(urls(refused_port), label="url")
    names = st.sampled_from([*SAFE, "body_file", "script", "nope"])
    values = VALUES | file_values(folder)
    options = data.draw(st.dictionaries(names, values, max_size=5), label="options")
    with pytest.raises(PyloadError) as caught:
        pyload.run(url, **options)
    message = str(caught.value)
    assert message and "\n" not in message
    if isinstance(caught.value, pyload.ConnectError):
        assert message == f"unable to connect to 127.0.0.1:{refused_port} Connection refused"


# -- found by these properties, fixed: control characters in -H, a --body not in UTF-8 -------


@given(control=st.sampled_from(["\r\n", "\n", "\r", "\x00", "\x7f", "\x1b"]))
@settings(max_examples=10, deadline=None, database=None)
def test_an_accepted_header_gives_one_well_formed_request(control: str):
    try:
        config = Config("http://127.0.0.1:1/", headers=(("X-A", f"a{control}Evil: 1"),))
    except UsageError:
        return
    request = build_request(config.target, config.headers, config.method)
    seen: list[tuple[bytes, bytes]] = []

    class Protocol:
        def on_header(self, name: bytes, value: bytes) -> None:
            seen.append((name, value))

    httptools.HttpRequestParser(Protocol()).feed_data(request)
    assert seen[-1][0] == b"X-A" and (b"Evil", b"1") not in seen


def test_a_body_argument_that_is_not_utf8_is_sent_as_its_bytes(refused_port: int):
    from pyload._plan import read_body

    assert read_body(Config(f"http://127.0.0.1:{refused_port}/", body="\udcff")) == b"\xff"
