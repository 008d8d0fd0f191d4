"""`make screenshots`: pictures of the real app on the offline demo, into screenshots/.

It builds the demo repository in a temporary folder, runs the real App on it headless (the
scripted agent, the real engine, real git) and saves Textual's SVG screenshots at moments
worth showing: mid-run, review mode waiting, the history, the help, the end-of-session
summary, the main screen at 80x24, and three parallel workers (the workers strip, at 120x36
and 80x24). Each SVG is also turned into a PNG with
`rsvg-convert` (Debian: librsvg2-bin, with fonts-firacode).

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--only parallel]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.tui.app import AutoresearchApp  # noqa: E402
from app.tui.launch import make_app  # noqa: E402
from app.tui.state import AppOptions  # noqa: E402

CELL_WIDTH = 12.2
"""Width of one terminal cell in Textual's SVG (font-size 20 px)."""


def png_ready_svg(svg: str) -> str:
    """The SVG with each text run's leading no-break spaces turned into an x offset.

    librsvg drops leading spaces of a `<text>` with `textLength`, so text after a styled run
    would shift left in the PNG; browsers draw the SVG itself correctly.
    """

    def shift(match: re.Match[str]) -> str:
        attrs, body = match.group(1), match.group(2)
        lead = len(re.match(r"(?:&#160;)*", body).group(0)) // len("&#160;")  # type: ignore[union-attr]
        if not lead:
            return match.group(0)
        x = float(re.search(r' x="([\d.]+)"', attrs).group(1))  # type: ignore[union-attr]
        attrs = re.sub(r' x="[\d.]+"', f' x="{x + lead * CELL_WIDTH:.1f}"', attrs, count=1)
        length = re.search(r'textLength="([\d.]+)"', attrs)
        if length:
            attrs = re.sub(r'textLength="[\d.]+"', 'textLength="'
                           f'{max(0.0, float(length.group(1)) - lead * CELL_WIDTH):.1f}"', attrs)
        return f"<text{attrs}>{body[lead * len('&#160;'):]}</text>"

    return re.sub(r"<text([^>]*)>([^<]*)</text>", shift, svg)


def to_png(svg_path: Path) -> Path | None:
    converter = shutil.which("rsvg-convert")
    if converter is None:
        print("rsvg-convert not found (apt-get install librsvg2-bin fonts-firacode); "
              "SVG only", file=sys.stderr)
        return None
    png = svg_path.with_suffix(".png")
    with tempfile.NamedTemporaryFile("w", suffix=".svg", delete=False) as handle:
        handle.write(png_ready_svg(svg_path.read_text(encoding="utf-8")))
    try:
        subprocess.run([converter, handle.name, "-o", str(png)], check=True)
    finally:
        os.unlink(handle.name)
    return png


async def until(pilot: Any, condition: Callable[[], bool], what: str,
                timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"screenshots: timed out waiting for {what}")
        await pilot.pause(0.1)


def demo_app(repo: Path, *, review: bool = False, workers: int | None = None
             ) -> AutoresearchApp:
    def open_source() -> Any:
        from app.engine.launch import LaunchOptions
        from app.engine.session import open_session

        return open_session(LaunchOptions(cwd=repo, workers=workers))

    return make_app(AppOptions(open_source=open_source, review=review))


def decided(app: AutoresearchApp) -> int:
    return sum(1 for e in app.view.experiments if e.n > 0)


async def shoot(app: AutoresearchApp, pilot: Any, out: Path, name: str) -> None:
    app.clear_notifications()
    await pilot.pause(0.4)
    path = out / f"{name}.svg"
    app.save_screenshot(filename=path.name, path=str(out))
    png = to_png(path)
    print(f"wrote {path}" + (f" and {png.name}" if png else ""))


async def session_pictures(repo: Path, out: Path) -> None:
    from app.screens.modals import SummaryScreen

    app = demo_app(repo, review=False)
    async with app.run_test(size=(120, 36)) as pilot:
        # A moment a first-time reader follows: the change itself being measured (not the
        # champion's comparison runs), four experiments decided.
        await until(pilot, lambda: decided(app) >= 4 and app.view.current is not None
                    and app.view.state == "measuring" and app.view.detail[:1].isdigit(),
                    "four decided experiments and the fifth's change being measured", 900)
        await shoot(app, pilot, out, "main")
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.5)
        await shoot(app, pilot, out, "main-80x24")
        await pilot.resize_terminal(120, 36)
        await pilot.pause(0.5)
        await pilot.press("r")  # review mode: the next proposal waits
        await until(pilot, lambda: app.view.state == "waiting for approval", "a proposal")
        await shoot(app, pilot, out, "review")
        await pilot.press("h")
        await pilot.pause(0.8)
        await shoot(app, pilot, out, "history")
        await pilot.press("escape", "question_mark")
        await shoot(app, pilot, out, "help")
        await pilot.press("escape", "r")  # review off: approve and run to the end
        await until(pilot, lambda: isinstance(app.screen, SummaryScreen), "the summary", 300)
        await shoot(app, pilot, out, "summary")
        await pilot.press("q")


async def parallel_pictures(repo: Path, out: Path) -> None:
    """`--workers 3`: the workers strip while the three work at once."""
    app = demo_app(repo, workers=3)

    def busy() -> bool:
        v = app.view
        working = [w for w in v.workers.values() if w.n is not None and w.worker]
        return (decided(app) >= 2 and len(working) == 3 and v.selected.state == "measuring"
                and bool(v.selected.description))

    async with app.run_test(size=(120, 36)) as pilot:
        await until(pilot, busy, "two decided experiments and three workers at work", 900)
        await shoot(app, pilot, out, "workers")
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.5)
        await shoot(app, pilot, out, "workers-80x24")
        app.controller.stop("pictures taken")
        await until(pilot, app.loop_finished.is_set, "the loop to stop", 120)
        await pilot.press("q")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "screenshots"), help="output folder")
    parser.add_argument("--only", choices=["parallel"], help="only the parallel workers' "
                        "pictures")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from app.demo import create_sample_repo

    with tempfile.TemporaryDirectory(prefix="autoresearch-shots-") as tmp:
        repo = Path(tmp) / "demo"
        os.environ["XDG_CONFIG_HOME"] = str(Path(tmp) / "xdg")  # no personal keymap/theme
        create_sample_repo(repo, agent="scripted")
        os.chdir(repo)
        if args.only is None:
            asyncio.run(session_pictures(repo, out))
        parallel = Path(tmp) / "demo-parallel"
        create_sample_repo(parallel, agent="scripted")
        os.chdir(parallel)
        asyncio.run(parallel_pictures(parallel, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
