"""--html pages and the terminal chunk map: what Chromium renders of a seed
counterexample and of the shipped mix capture, self-containment, atomic
writing, and the bounded log summary behind the page."""

from __future__ import annotations

import gzip
import io
import os
import re
import shutil
import subprocess
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from percpu_mc.checker.cli import check_model as cli_model
from percpu_mc.checker.cli import check_trace as cli_trace
from percpu_mc.checker.logs.trace_summary import MAX_BINS, Histogram, LogSummary
from percpu_mc.checker.report import html as html_report
from percpu_mc.traces.parser import LogParser

SAMPLES = Path(__file__).parent / "trace_samples"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium(tmp: Path, *args: str) -> str:
    """Headless Debian chromium (the README's test command installs it)."""
    exe = shutil.which("chromium")
    if exe is None:
        # CI installs the browser (.ci/run) and must run these tests; elsewhere they skip.
        message = "chromium is not installed (Debian: apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    profile = tmp / "chromium-profile"
    done = subprocess.run(
        [exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


class Elements(HTMLParser):
    """Every element with its attributes and the attributes of its ancestors."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.stack: list[dict[str, str]] = []
        self.found: list[tuple[dict[str, str], list[dict[str, str]]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs} | {"tag": tag}
        self.found.append((a, list(self.stack)))
        if tag not in ("meta", "br", "hr", "img", "input", "link"):  # void elements
            self.stack.append(a)

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()["tag"] != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def inside(self, **want: str) -> list[dict[str, str]]:
        """Elements with an ancestor whose attributes include `want`
        (class is matched as one of the classes)."""

        def match(a: dict[str, str]) -> bool:
            return all(
                v in a.get("class", "").split() if k == "class_" else a.get(k) == v
                for k, v in want.items()
            )

        return [a for a, up in self.found if any(match(u) for u in up)]


@pytest.fixture(scope="module")
def seed_run() -> tuple:
    args = cli_model.parse_args(
        [
            "--spec",
            "seed",
            "--depth",
            "10",
            "--property",
            "no-deadlock",
            "--property",
            "counter-exact",
        ]
    )
    return cli_model.run(args, Console(stderr=True, quiet=True))


def test_seed_counterexamples_render_in_chromium(seed_run: tuple, tmp_path: Path) -> None:
    doc, results, model = seed_run
    page = tmp_path / "seed.html"
    html_report.write_model(str(page), doc, results, model)
    dom = Elements(chromium(tmp_path, "--dump-dom", page.as_uri()))
    assert {r.prop: r.depth for r in results} == {"no-deadlock": 2, "counter-exact": 10}
    for r in results:
        # the violating step is the last one, highlighted, and draws every chunk struct
        violating = [
            a
            for a, _ in dom.found
            if "violating" in a.get("class", "").split() and a.get("data-step")
        ]
        steps = {a["data-step"] for a in violating if a["id"].startswith(r.prop)}
        assert steps == {str(r.depth)}
        chunks = {
            a["data-chunk"] for a in dom.inside(id=f"{r.prop}-step-{r.depth}") if "data-chunk" in a
        }
        assert chunks == {str(c) for c in range(model.p.nr_chunks)}
        every_step = {a["data-step"] for a in dom.inside(id=r.prop) if "data-step" in a}
        assert every_step == {str(n) for n in range(r.depth + 1)}
    text = " ".join(" ".join(dom.text).split())
    assert re.search(r"pcpu_alloc_mutex is owned by alloc#\d, out of pcpu_alloc\(\)", text)
    # the lost update: the counter and the pages it counts differ
    counted = re.search(
        r"pcpu_nr_empty_pop_pages is (-?\d+), but the chunks hold (\d+) "
        r"populated pages",
        text,
    )
    assert counted and counted.group(1) != counted.group(2)


def test_seed_terminal_map_fits_100_columns(seed_run: tuple) -> None:
    doc, results, model = seed_run
    buf = io.StringIO()
    cli_model.human(doc, results, model, Console(file=buf, width=100, soft_wrap=True), True)
    lines = buf.getvalue().splitlines()
    assert max(len(ln) for ln in lines) <= 100
    # one row per state of each counterexample, the last with the broken counter
    rows = [ln for ln in lines if re.match(r"\s*\d+\s{2,}", ln)]
    assert len(rows) == (2 + 1) + (10 + 1)
    broken = re.search(r"(-?\d+)!=(\d+)", rows[-1])
    assert broken and broken.group(1) != broken.group(2) and "pcpu_alloc: counter" in rows[-1]
    assert re.fullmatch(r"alloc#\d", rows[2].split()[-1])  # no-deadlock: the mutex left held


def test_map_is_off_when_stdout_is_not_a_terminal(capsys: pytest.CaptureFixture) -> None:
    assert cli_model.main(["--spec", "seed", "--depth", "2", "--property", "no-deadlock"]) == 1
    assert "chunk map per step" not in capsys.readouterr().out
    assert (
        cli_model.main(["--spec", "seed", "--depth", "2", "--property", "no-deadlock", "--map"])
        == 1
    )
    assert "no-deadlock: chunk map per step" in capsys.readouterr().out


def test_mix_capture_renders_in_chromium(tmp_path: Path) -> None:
    page = tmp_path / "mix.html"
    mix = SAMPLES / "mix.trace.gz"
    assert cli_trace.main(["--html", str(page), str(mix)]) == 0
    dom = Elements(chromium(tmp_path, "--dump-dom", page.as_uri()))
    with gzip.open(mix, "rt") as f:
        bases = {f"{int(b, 16):#x}" for b in re.findall(r"base_addr=([0-9a-f]+)", f.read())}
    assert len(bases) == 5  # first, reserved and three created chunks
    for cls in ("chunkmap", "timeline"):
        drawn = {a["data-chunk"] for a in dom.inside(class_=cls) if "data-chunk" in a}
        assert drawn == bases
    section = [a for a, _ in dom.found if a.get("class") == "log"]
    assert [a["data-verdict"] for a in section] == ["clean"]
    bars = [a for a in dom.inside(class_="rates") if a["tag"] == "rect"]
    assert len(bars) > 10
    png = tmp_path / "mix.png"
    chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,900", page.as_uri())
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(head[16:20], "big") == 1200


LOG = (
    "  a-1 [000] .... 1.000000: percpu_create_chunk: base_addr=ffffef47bfc00000\n"
    "  a-1 [000] .... 1.000001: percpu_alloc_percpu: reserved=0 is_atomic=1 size=8 "
    "align=8 base_addr=ffffef47bfc00000 off=4096 ptr=0000000000037000\n"
    "  a-1 [000] .... 1.500000: percpu_alloc_percpu_fail: reserved=0 is_atomic=1 size=64 "
    "align=8\n"
    "  a-1 [000] .... 2.000000: percpu_destroy_chunk: base_addr=ffffef47bfc00000\n"
    "  a-1 [000] .... 2.500000: percpu_alloc_percpu: reserved=1 is_atomic=0 size=8 "
    "align=8 base_addr=ffff8cabfdc35000 off=0 ptr=ffff9d643e06b000\n"
    "CPU:0 [LOST 3 EVENTS]\n"
    "  a-1 [000] .... 3.000000: percpu_alloc_percpu: reserved=0 is_atomic=0 size=16 "
    "align=8 base_addr=ffff8cabfdc37000 off=0 ptr=ffff9d643e06d000\n"
)


def test_violations_failures_and_gaps_are_drawn(tmp_path: Path) -> None:
    log = tmp_path / "bad.trace"
    log.write_text(LOG)
    page = tmp_path / "bad.html"
    assert cli_trace.main(["--html", str(page), str(log)]) == 1
    dom = Elements(page.read_text())
    kinds = [a for a in dom.inside(class_="violation-marks") if a["tag"] == "path"]
    assert len(kinds) == 1  # the destroy of a chunk holding the area of line 2
    assert len([a for a in dom.inside(class_="failures") if a["tag"] == "line"]) == 1
    assert len([a for a in dom.inside(class_="gaps") if a["tag"] == "rect"]) == 1
    text = " ".join(" ".join(dom.text).split())
    assert "destroy-nonempty-chunk" in text and "CPU 0 lost 3 events" in text
    # the chunk lives: destroyed, cut by the gap, live at the end
    ends = [a["data-end"] for a in dom.inside(class_="timeline") if "data-end" in a]
    assert ends == ["destroyed", "lost events", "live"]
    assert "unknown: events lost at line 6" in text


def test_page_is_self_contained_and_written_atomically(seed_run: tuple, tmp_path: Path) -> None:
    doc, results, model = seed_run
    page = tmp_path / "seed.html"
    page.write_text("an older page")
    html_report.write_model(str(page), doc, results, model)
    text = page.read_text()
    assert not re.search(r"<script|<link|<img|<iframe|\bsrc=|@import|url\(", text)
    # links to the kernel source are for the reader to follow, not assets of the page
    links = set(re.findall(r'<a class="source" href="(https://[^"]+)"', text))
    assert links and all(
        u.startswith(("https://elixir.bootlin.com/", "https://git.kernel.org/")) for u in links
    )
    others = set(re.findall(r"https?://[^\s\"']+", text)) - links
    assert others <= {"http://www.w3.org/2000/svg"}
    assert [p.name for p in tmp_path.iterdir()] == ["seed.html"]  # no temporary left


def test_unwritable_html_path_is_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "no" / "such.html"
    assert cli_trace.main(["--html", str(missing), str(SAMPLES / "boot.trace")]) == 2
    assert "no directory" in capsys.readouterr().err
    assert (
        cli_model.main(
            ["--spec", "seed", "--property", "no-deadlock", "--depth", "2", "--html", str(missing)]
        )
        == 2
    )
    assert "no directory" in capsys.readouterr().err and not missing.parent.exists()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**13), max_size=300), st.integers(1, 40))
def test_histogram_keeps_every_event(stamps: list[int], bins: int) -> None:
    h = Histogram()
    for t in stamps:
        h.add(t)
    assert len(h.counts) <= MAX_BINS
    start, end = (min(stamps), max(stamps)) if stamps else (0, 1)
    assert sum(h.rebin(start, end, bins)) == len(stamps)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 7), st.sampled_from([8, 16, 64])), max_size=60)
)
def test_live_bytes_are_the_sum_of_live_areas(ops: list[tuple[bool, int, int]]) -> None:
    """An allocation at a fresh offset (slot * 64) or a free of one."""
    lines = []
    for n, (alloc, slot, size) in enumerate(ops):
        ts = f"1.{n:06d}"
        if alloc:
            lines.append(
                f"  a-1 [000] .... {ts}: percpu_alloc_percpu: reserved=0 is_atomic=0 "
                f"size={size} align=8 base_addr=ffff8cabfdc37000 off={slot * 64} "
                "ptr=0000000000037000\n"
            )
        else:
            lines.append(
                f"  a-1 [000] .... {ts}: percpu_free_percpu: "
                f"base_addr=ffff8cabfdc37000 off={slot * 64} ptr=0000000000037000\n"
            )
    summary = LogSummary()
    for record in LogParser().records(iter(lines)):
        summary.feed(record)
    live: dict[int, int] = {}
    for alloc, slot, size in ops:
        if alloc:
            live[slot * 64] = size
        else:
            live.pop(slot * 64, None)
    for life in summary.lives:
        assert life.live == live and life.live_bytes == sum(live.values())
        assert life.peak_bytes >= life.live_bytes


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and rows of RGB(A) bytes of an 8-bit, non-interlaced
    PNG (what Chromium's screenshots are): enough to look at colours."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + size
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    depth, colour, interlace = header[8], header[9], header[12]
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    bpp = 3 if colour == 2 else 4
    raw, stride, rows = zlib.decompress(idat), width * bpp, []
    prev = bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(
            bytes(line if bpp == 3 else b"".join(line[i : i + 3] for i in range(0, stride, 4)))
        )
        prev = line
    return width, height, rows


def test_seed_sequence_chart_renders_in_chromium(seed_run: tuple, tmp_path: Path) -> None:
    """A lane per context with a box per step (the failing and the violating
    steps marked, the mutex holder's lane drawn), steps that fold, the
    changed fields marked, and each step linked to the kernel function at
    the seed's commit; the lanes show in Chromium's screenshot."""
    doc, results, model = seed_run
    page = tmp_path / "seed.html"
    html_report.write_model(str(page), doc, results, model)
    dom = Elements(chromium(tmp_path, "--dump-dom", page.as_uri()))
    for r in results:
        chart = dom.inside(class_="lanes", **{"data-property": r.prop})
        lanes = [a["data-lane"] for a in chart if a.get("class") == "lane"]
        assert lanes[:2] == ["alloc#1", "alloc#2"], lanes
        boxes = [a for a in chart if "lane-step" in a.get("class", "").split()]
        assert [int(a["data-lane-step"]) for a in boxes] == list(range(1, r.depth + 1))
        for box, step in zip(boxes, r.trace.steps):
            assert box["data-lane"] == model.actions[step.action].context.label
        links = [a["href"] for a in chart if a["tag"] == "a"]
        assert links == [f"#{r.prop}-step-{n}" for n in range(1, r.depth + 1)]
        assert "last" in boxes[-1]["class"].split()
        folds = [a for a, _ in dom.found if a["tag"] == "details" and a["id"].startswith(r.prop)]
        assert len(folds) == r.depth + 1 and [("open" in a) for a in folds][-1]
    deadlock = dom.inside(class_="lanes", **{"data-property": "no-deadlock"})
    failing = [a for a in deadlock if "fails" in a.get("class", "").split()]
    assert [a["data-lane-step"] for a in failing] == ["2"]
    assert any("mutex-held" in a.get("class", "") for a in deadlock)
    sources = [
        a["href"] for a in dom.inside(id="no-deadlock-step-2") if "source" in a.get("class", "")
    ]
    assert sources == [
        "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/tree/"
        "mm/percpu-vm.c?id=1a4d76076cda"
    ]
    # step 1 takes an area of the first chunk; step 10 stores the counter
    first = dom.inside(id="counter-exact-step-1")
    assert any(a["tag"] == "g" and "changed" in a.get("class", "").split() for a in first)
    last = dom.inside(id="counter-exact-step-10")
    assert any(a["tag"] == "tr" and "changed" in a.get("class", "").split() for a in last)
    assert any("changed-counter" in a.get("class", "") for a in last)
    # the 10-step run alone on a page, so that its chart is in the window
    alone = tmp_path / "counter-exact.html"
    one = [i for i in doc["results"] if i["property"] == "counter-exact"]
    html_report.write_model(
        str(alone),
        {**doc, "results": one},
        [r for r in results if r.prop == "counter-exact"],
        model,
    )
    png = tmp_path / "seed.png"
    chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,900", alone.as_uri())
    width, height, rows = png_pixels(png.read_bytes())
    box = bytes.fromhex("eaf1fb")  # a step's box
    xs = [x for row in rows for x in range(width) if row[3 * x : 3 * x + 3] == box]
    assert len(xs) > 5 * 2000, "the step boxes are not drawn"
    assert max(xs) - min(xs) > 170, "the boxes stand in one lane only"
    last = bytes.fromhex("f9d6d2")  # the violating step's box
    assert sum(row.count(last) for row in rows) > 1000
