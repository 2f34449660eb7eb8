"""Look at a report as a browser shows it: a screenshot with headless Chromium (optional; used by the
tests and by `reasonrl report RUN_DIR --png FILE`). On Debian: `apt-get install chromium-headless-shell`."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

BROWSERS = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """Path of the first headless-capable Chromium on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(html: str | Path, png: str | Path, width: int = 1280, height: int = 4000,
               timeout_s: float = 60.0) -> Path | None:
    """Render the HTML file to a PNG of width x height pixels; None when no browser is installed.
    Raises RuntimeError (with the browser's last output) when the browser fails."""
    browser = find_browser()
    if browser is None:
        return None
    png = Path(png).resolve()
    png.unlink(missing_ok=True)
    url = Path(html).resolve().as_uri()
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--window-size={width},{height}", f"--screenshot={png}"]
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([*args, f"--user-data-dir={profile}", url], capture_output=True, text=True,
                              timeout=timeout_s)
    if not png.exists():
        raise RuntimeError(f"{Path(browser).name} made no screenshot (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[-300:]}")
    return png
