"""scripts/explain_html.py's page as headless Chromium draws it: green and red words show."""

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from torchserve_nlp.report.render import NEGATIVE_RGB, POSITIVE_RGB

pytestmark = pytest.mark.integration
REPO_ROOT = Path(__file__).resolve().parents[2]
WIDTH, HEIGHT = 1000, 600
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The legend's gradient reaches the full colours only in its end columns (a few dozen pixels);
# the full-score words below cover thousands.
MIN_WORD_PIXELS = 600


def png_chunks(data: bytes) -> dict[bytes, list[bytes]]:
    assert data[:8] == PNG_SIGNATURE, "not a PNG file"
    chunks: dict[bytes, list[bytes]] = {}
    position = 8
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        chunks.setdefault(kind, []).append(data[position + 8 : position + 8 + length])
        position += 12 + length
    return chunks


def paeth(left: int, up: int, up_left: int) -> int:
    estimate = left + up - up_left
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - up_left))
    return (left, up, up_left)[distances.index(min(distances))]


def predictor(kind: int, left: int, up: int, up_left: int) -> int:
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    if kind == 4:
        return paeth(left, up, up_left)
    raise ValueError(f"unknown PNG filter type {kind}")


def unfilter_line(kind: int, line: bytearray, previous: bytes, step: int) -> bytearray:
    """Undo one scanline's PNG filter in place (types 1-4), ``step`` bytes per pixel."""
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up_left = previous[i - step] if i >= step else 0
        line[i] = (line[i] + predictor(kind, left, previous[i], up_left)) & 0xFF
    return line


def read_png(path: Path) -> np.ndarray:
    """The RGB pixels (height, width, 3) of an 8-bit, non-interlaced RGB or RGBA PNG."""
    chunks = png_chunks(path.read_bytes())
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB",
                                                                      chunks[b"IHDR"][0])
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, (depth, colour_type)
    step = 3 if colour_type == 2 else 4
    stride = width * step
    raw = zlib.decompress(b"".join(chunks[b"IDAT"]))
    pixels = bytearray()
    previous = bytes(stride)
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind != 0:
            line = unfilter_line(kind, line, previous, step)
        pixels += line
        previous = bytes(line)
    return np.frombuffer(bytes(pixels), np.uint8).reshape(height, width, step)[:, :, :3]


def near(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int = 8) -> int:
    """How many pixels are within ``tolerance`` of ``colour`` on every channel."""
    difference = np.abs(pixels.astype(np.int16) - np.array(colour, np.int16))
    return int(np.all(difference <= tolerance, axis=-1).sum())


def sentiment_response() -> dict:
    text = "Absolutely wonderful, wonderful acting  and a   terrible, terrible ending.\nMeh."
    scores = {"wonderful": 1.0, "acting": 0.2, "terrible": -1.0, "ending": -0.3}
    rows, position = [], 0
    for word in ["wonderful", "wonderful", "acting", "terrible", "terrible", "ending"]:
        start = text.index(word, position)
        position = start + len(word)
        rows.append({"text": word, "start": start, "end": position, "score": scores[word]})
    return {"prediction": {"Negative": 0.45, "Positive": 0.55},
            "explanation": {"method": "integrated_gradients", "target": "Positive",
                            "text": text, "attributions": rows, "n_steps": 50,
                            "convergence_delta": 0.004}}


def screenshot(page: Path, png: Path, profile: Path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: run `make chromium`")
    completed = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={png}",
         f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={profile}",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180,
    )
    assert completed.returncode == 0 and png.exists(), completed.stderr[-2000:]


def test_chromium_draws_green_and_red_words(tmp_path):
    response_path, page = tmp_path / "response.json", tmp_path / "page.html"
    png = tmp_path / "page.png"
    response_path.write_text(json.dumps(sentiment_response()), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "explain_html.py"), str(response_path),
         "-o", str(page)], capture_output=True, text=True, timeout=60,
    )
    assert completed.returncode == 0, completed.stderr
    screenshot(page, png, tmp_path / "chromium-profile")

    pixels = read_png(png)
    assert pixels.shape == (HEIGHT, WIDTH, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 16, "the screenshot is one colour"
    greenish, reddish = near(pixels, POSITIVE_RGB), near(pixels, NEGATIVE_RGB)
    assert greenish >= MIN_WORD_PIXELS, f"only {greenish} green pixels"
    assert reddish >= MIN_WORD_PIXELS, f"only {reddish} red pixels"
