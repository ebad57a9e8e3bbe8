"""tests/browser.py, the suite's headless Chromium: it reports console errors, tells a drawn
chart from a blank one, keeps the page off the network (a real loopback server sees nothing),
writes screenshots, emulates dark and print, and ends a page that hangs at its deadline."""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import pytest

from tests.browser import (
    BrowserError,
    BrowserTimeout,
    namespaces_work,
    network_references,
    open_page,
)
from tests.procs import run
from tests.target_server import TargetServer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write(folder: Path, body: str, head: str = "") -> Path:
    page = folder / "page.html"
    page.write_text(f"<!doctype html><html><head>{head}</head><body>{body}</body></html>")
    return page


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # IHDR, the first chunk
    return width, height


def test_console_errors_and_exceptions_are_reported_with_their_level(tmp_path: Path) -> None:
    page = open_page(write(tmp_path, """
        <p id="p">before</p>
        <script>
          console.log("just saying");
          console.warn("careful");
          console.error("broken", 42);
          document.getElementById("p").textContent = "after";
          setTimeout(() => { throw new Error("thrown later"); }, 0);
        </script>"""))  # fmt: skip
    levels = {(m.level, m.source, m.text.splitlines()[0]) for m in page.console}
    assert ("log", "console", "just saying") in levels
    assert ("warning", "console", "careful") in levels
    assert [(m.source, m.text.splitlines()[0]) for m in page.errors] == [
        ("console", "broken 42"),
        ("exception", "Error: thrown later"),
    ]
    assert page.errors[0].url == page.url
    assert page.errors[0].line == 6
    assert page.text.strip() == "after"  # the DOM and text are read after the scripts ran
    assert '<p id="p">after</p>' in page.dom


def test_a_quiet_page_has_no_console_message(tmp_path: Path) -> None:
    page = open_page(write(tmp_path, "<p>nothing to say</p><script>let x = 1 + 1;</script>"))
    assert page.console == ()
    assert page.errors == ()
    assert page.charts == ()


def test_charts_drawn_or_blank_by_their_pixels_and_shapes(tmp_path: Path) -> None:
    page = open_page(write(tmp_path, """
        <div data-chart="painted"><canvas id="c" width="40" height="30"></canvas></div>
        <div data-chart="on the next frame"><canvas id="late" width="40" height="30"></canvas></div>
        <canvas data-chart="blank" width="40" height="30"></canvas>
        <div data-chart="empty"></div>
        <svg data-chart="svg" width="40" height="30"><path d="M0 0 L40 30" stroke="red"/></svg>
        <svg data-chart="empty svg" width="40" height="30"><g></g></svg>
        <img data-chart="image" alt="x"
             src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUwAOw==">
        <script>
          const c = document.getElementById("c").getContext("2d");
          c.fillStyle = "rgba(0, 0, 255, 0.5)";
          c.fillRect(10, 10, 1, 1);
          requestAnimationFrame(() => {
            document.getElementById("late").getContext("2d").fillRect(0, 0, 2, 2);
          });
        </script>"""))  # fmt: skip
    assert page.errors == ()
    assert [(c.name, c.drawn) for c in page.charts] == [
        ("painted", True),
        ("on the next frame", True),
        ("blank", False),
        ("empty", False),
        ("svg", True),
        ("empty svg", False),
        ("image", True),
    ]


@pytest.mark.parametrize("isolation", ["auto", "switches"])
def test_the_page_cannot_reach_a_server_even_on_loopback(
    tmp_path: Path, server: TargetServer, isolation: str
) -> None:
    """The server is real and listening on 127.0.0.1: a browser with any network would connect."""
    page = open_page(
        write(tmp_path, f"""
            <img src="{server.url}/image.png" alt="">
            <script>
              fetch("{server.url}/fetched").then(
                () => console.log("reached"), (e) => console.log("fetch failed: " + e));
              fetch("http://example.com/").catch(() => console.log("no internet either"));
            </script>"""),
        evaluate={"xhr": f"""new Promise((done) => {{
            const r = new XMLHttpRequest();
            r.onload = () => done("loaded");
            r.onerror = () => done("failed");
            r.open("GET", "{server.url}/xhr");
            r.send();
        }})"""},
        isolation=isolation,  # type: ignore[arg-type]
    )  # fmt: skip
    expected = "unshare -n" if isolation == "auto" and namespaces_work() else "chromium switches"
    assert page.isolation == expected
    assert server.connections == 0
    assert sum(server.received.values()) == 0
    assert page.evaluated == {"xhr": "failed"}
    texts = [m.text for m in page.console]
    assert "fetch failed: TypeError: Failed to fetch" in texts
    assert "reached" not in texts
    failed_loads = {m.url for m in page.errors if m.source == "network"}
    assert f"{server.url}/image.png" in failed_loads
    assert f"{server.url}/fetched" in failed_loads


def test_namespace_is_used_as_root(tmp_path: Path) -> None:
    """As root (this suite's CI), the namespace is there: the isolation is not quietly weaker."""
    page = open_page(write(tmp_path, "<p>x</p>"))
    if os.geteuid() == 0:
        assert namespaces_work()
        assert page.isolation == "unshare -n"
    else:
        assert page.isolation == "chromium switches"


def test_a_full_page_screenshot_has_the_page_height(tmp_path: Path) -> None:
    page = write(tmp_path, '<div style="height: 2500px; background: linear-gradient(red, blue)">')
    full = open_page(page, screenshot=tmp_path / "full.png", window=(800, 600))
    window = open_page(page, screenshot=tmp_path / "window.png", window=(800, 600), full_page=False)
    assert full.screenshot == tmp_path / "full.png"
    width, height = png_size(tmp_path / "full.png")
    assert width == 800
    assert height >= 2500
    assert png_size(tmp_path / "window.png") == (800, 600)
    assert window.errors == ()


def test_dark_scheme_and_print_media_are_emulated(tmp_path: Path) -> None:
    style = """<style>
        body { background: rgb(255, 255, 255); }
        @media (prefers-color-scheme: dark) { body { background: rgb(0, 0, 0); } }
        @media print { body { background: rgb(1, 2, 3); } }
    </style>"""
    page = write(tmp_path, "<p>x</p>", head=style)
    background = {"background": "getComputedStyle(document.body).backgroundColor"}
    light = open_page(page, color_scheme="light", evaluate=background)
    dark = open_page(page, color_scheme="dark", evaluate=background)
    printed = open_page(page, media="print", evaluate=background)
    assert light.evaluated == {"background": "rgb(255, 255, 255)"}
    assert dark.evaluated == {"background": "rgb(0, 0, 0)"}
    assert printed.evaluated == {"background": "rgb(1, 2, 3)"}


def test_a_page_that_never_loads_ends_at_the_deadline(tmp_path: Path) -> None:
    page = write(tmp_path, "<script>for (;;) {}</script>")
    with pytest.raises(BrowserTimeout, match="did not finish in time"):
        open_page(page, timeout=4)
    # the leak check after this test finds no Chromium left


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(BrowserError, match="ERR_FILE_NOT_FOUND"):
        open_page(tmp_path / "absent.html")


def test_network_references_are_found_wherever_a_page_names_them() -> None:
    page = """<!doctype html><html><head>
        <link rel="stylesheet" href="https://cdn.example/x.css">
        <style>@import "//fonts.example/f.css"; body { background: url('http://e.x/bg.png'); }
        </style>
        <script src="HTTP://E.X/lib.js"></script></head><body>
        <img srcset="a.png 1x, https://e.x/b.png 2x" src="data:image/png;base64,AAAA">
        <a href="#summary">local</a> <a href="other.html">relative</a>
        <a href="file:///home/me/r.html">a file of this machine</a>
        <div style="background-image: url(ws://e.x/y)"></div>
        <script type="application/json">{"url": "http://127.0.0.1:8080/"}</script>
        </body></html>"""
    assert network_references(page) == [
        "<link href=https://cdn.example/x.css>",
        "<style> http://e.x/bg.png",
        "<style> //fonts.example/f.css",
        "<script src=HTTP://E.X/lib.js>",
        "<img srcset=https://e.x/b.png 2x>",
        "<a href=file:///home/me/r.html>",
        "<div> ws://e.x/y",
    ]
    assert network_references('<img src="data:image/png;base64,AA"><a href="#x">x</a>') == []


def test_from_a_shell_it_prints_what_the_page_showed(tmp_path: Path) -> None:
    good = write(tmp_path, '<svg data-chart="line" width="9" height="9"><rect width="9" '
                 'height="9"/></svg><script>console.log("hi")</script>')  # fmt: skip
    shot = tmp_path / "shot.png"
    done = run([sys.executable, "-m", "tests.browser", str(good), "--screenshot", str(shot),
                "--width", "640"], timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] in ("isolation: unshare -n", "isolation: chromium switches")
    assert lines[1:] == [
        f"console: log [console] hi ({good.as_uri()}:1)",
        "chart line: drawn",
        f"screenshot: {shot}",
    ]
    assert png_size(shot)[0] == 640
    bad = tmp_path / "bad.html"
    bad.write_text('<canvas data-chart="blank"></canvas><script>console.error("no")</script>')
    done = run([sys.executable, "-m", "tests.browser", str(bad)], timeout=120)
    assert done.returncode == 1
    assert "chart blank: NOT DRAWN" in done.stdout.splitlines()
