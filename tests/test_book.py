"""The rendered book: `mkdocs build` (README, "The book as a web site") makes a static site of every lesson
with its stored outputs, a table of contents and a search index; a real headless browser (Chromium, from
Debian's `chromium` package) opens the index and one lesson over HTTP and finds the lesson's title, its
figures and no error. Skipped, with the reason, where mkdocs or Chromium is not installed."""
from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))
pytestmark = pytest.mark.backend_free


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no Chromium to open the book with: apt-get install chromium (Debian) or install Chrome")


def _title(notebook: Path) -> str:
    first = json.loads(notebook.read_text())["cells"][0]["source"]
    return "".join(first).splitlines()[0].lstrip("# ").strip()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("mkdocs", reason="the book needs mkdocs: pip install -e '.[dev]'")
    pytest.importorskip("mkdocs_jupyter", reason="the book needs mkdocs-jupyter: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--quiet", "--site-dir", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def open_page(url: str) -> tuple[str, list[str]]:
    """(the DOM after the page's scripts ran, the messages its console printed) in headless Chromium."""
    run = subprocess.run([_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                          "--virtual-time-budget=8000", "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    return run.stdout, console


def test_the_book_has_every_lesson_in_its_contents_and_its_search_index(site):
    assert (site / "index.html").is_file()
    index = (site / "search" / "search_index.json").read_text()
    for notebook in LESSONS:
        assert (site / notebook.stem / "index.html").is_file(), notebook.name
        assert _title(notebook).split(" · ")[1].split(":")[0] in index, notebook.name
    assert "channel shuffle" in index.lower()  # the lessons' text, not only their titles, is searchable


def test_the_index_opens_in_a_browser_and_links_every_lesson(server):
    dom, console = open_page(f"{server}/")
    assert console == []
    assert "<title>kerasgp: a Keras 3 workbook</title>" in dom
    linked = set(re.findall(r'href="(\d\d_[a-z0-9_]+)/"', dom))
    assert linked == {notebook.stem for notebook in LESSONS}


def test_a_lesson_opens_with_its_title_its_figures_and_no_error(server):
    notebook = ROOT / "lessons" / "03_prn.ipynb"
    dom, console = open_page(f"{server}/{notebook.stem}/")
    assert console == []
    title = _title(notebook)
    assert f"<title>{title}" in dom.replace("&amp;", "&")
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', dom)) >= 1  # its stored figures
    assert "Traceback (most recent call last)" not in dom and 'class="ansi-red-fg"' not in dom
    assert "03.masked_residual_gradient: not done yet" in dom  # the exercises, in their unsolved state


def test_the_browser_check_sees_a_script_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<html><head><title>t</title></head><body><script>throw new Error('broken');</script></body></html>")
    _, console = open_page(page.as_uri())
    assert any("Uncaught Error: broken" in line for line in console)
