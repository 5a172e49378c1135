"""Synthetic images of coloured shapes on plain backgrounds.

The same renderer trains the caption head (model.py), feeds the unit tests, and gives operators
a valid image for a smoke test:

    python -m mmllm.testimages --base64 red-circle          # red circle on white
    python -m mmllm.testimages --base64 blue-square-on-yellow
"""

from __future__ import annotations

import argparse
import base64
import io

import numpy as np
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 60, 210),
    "yellow": (240, 220, 30),
    "orange": (245, 140, 20),
    "purple": (130, 50, 170),
    "black": (15, 15, 15),
    "white": (250, 250, 250),
    "gray": (128, 128, 128),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "stripes")


def _jitter(rgb: tuple[int, int, int], rng: np.random.Generator | None) -> tuple[int, ...]:
    if rng is None:
        return rgb
    return tuple(int(np.clip(c + rng.integers(-14, 15), 0, 255)) for c in rgb)


def render(
    shape: str,
    colour: str,
    background: str = "white",
    size: int = 64,
    rng: np.random.Generator | None = None,
) -> Image.Image:
    """Draw one shape. Without rng the drawing is canonical; with rng size, position,
    proportions and colours vary a little (training data)."""
    if shape not in SHAPES or colour not in COLOURS or background not in COLOURS:
        raise ValueError(f"unknown shape/colour: {shape!r}, {colour!r}, {background!r}")
    w = h = size
    if rng is not None:
        w, h = (int(v) for v in rng.integers(40, 113, size=2))
    img = Image.new("RGB", (w, h), _jitter(COLOURS[background], rng))
    draw = ImageDraw.Draw(img)
    fill = _jitter(COLOURS[colour], rng)
    side = min(w, h)
    if shape == "stripes":
        vertical = bool(rng.integers(2)) if rng is not None else False
        length = w if vertical else h
        period = max(4, length // (int(rng.integers(4, 8)) if rng is not None else 6))
        width = max(2, int(period * (rng.uniform(0.3, 0.45) if rng is not None else 0.4)))
        for start in range(period // 2, length, period):
            box = (start, 0, start + width - 1, h) if vertical else (0, start, w, start + width - 1)
            draw.rectangle(box, fill=fill)
        return img
    extent = rng.uniform(0.35, 0.8) * side if rng is not None else 0.6 * side
    cx, cy = w / 2, h / 2
    if rng is not None:
        cx += rng.uniform(-1, 1) * (w - extent) / 2
        cy += rng.uniform(-1, 1) * (h - extent) / 2
    x0, y0, x1, y1 = cx - extent / 2, cy - extent / 2, cx + extent / 2, cy + extent / 2
    if shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    else:
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=fill)
    return img


def to_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def png(spec: str, size: int = 64) -> bytes:
    """PNG bytes for a spec like 'red-circle' or 'blue-square-on-yellow'."""
    parts = spec.lower().split("-")
    background = "white"
    if len(parts) == 4 and parts[2] == "on":
        background = parts[3]
    elif len(parts) != 2:
        raise ValueError(f"spec must look like 'red-circle' or 'red-circle-on-blue', got {spec!r}")
    return to_png(render(parts[1], parts[0], background, size))


def red_circle_png() -> bytes:
    return png("red-circle")


def blue_square_png() -> bytes:
    return png("blue-square")


def green_triangle_png() -> bytes:
    return png("green-triangle")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base64", metavar="SPEC", help="print a base64 PNG, e.g. red-circle")
    parser.add_argument("--out", metavar="FILE", help="with --base64: write raw PNG to FILE")
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args(argv)
    if not args.base64:
        parser.error("--base64 SPEC is required")
    data = png(args.base64, args.size)
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(data)
    else:
        print(base64.b64encode(data).decode("ascii"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
