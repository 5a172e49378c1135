"""A tiny, real image-to-text model with INT2-quantized weights.

Pipeline: image -> fixed encoder (32x32 RGB; colour histograms of foreground and background,
shape mask statistics) -> hidden layer (INT2 random projection + ReLU) -> caption head (INT2
linear layer, fitted by least squares on synthetic shapes) -> slots (shape, colour,
background) -> caption text. Weights are stored packed four per byte with per-output-channel
float scales and used dequantized (float32) at inference time.

    python -m mmllm.model build --out /app/models        # writes .pth + .manifest.json
"""

from __future__ import annotations

import argparse
import json
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mmllm import testimages
from mmllm.integrity import ModelLoadError, check_digests, digests, model_paths, read_manifest

__all__ = ["ModelLoadError", "Model", "load_model", "build", "quantize_int2", "dequantize_int2"]

VERSION = "1.0.0"
SIDE = 32  # encoder input resolution
LEVELS = np.array([-1.5, -0.5, 0.5, 1.5], dtype=np.float32)  # symmetric 4-level INT2 grid
MAGIC = b"MMLLMQ2\n"
TASKS = ("captioning", "ocr", "vqa")
SHAPES = testimages.SHAPES
COLOURS = tuple(testimages.COLOURS)
HIDDEN = 256
SHRINK_FROM = SIDE * 8  # images at least twice this size are shrunk before conversion


# --- INT2 quantization -------------------------------------------------------------------

def pack_2bit(codes: np.ndarray) -> np.ndarray:
    """Pack 2-bit codes (0..3) four per byte, first code in the lowest bits."""
    flat = np.asarray(codes, dtype=np.uint8).ravel()
    if flat.size and int(flat.max()) > 3:
        raise ValueError("2-bit codes must be in 0..3")
    padded = np.zeros(-(-flat.size // 4) * 4, dtype=np.uint8)
    padded[: flat.size] = flat
    q = padded.reshape(-1, 4)
    return (q[:, 0] | (q[:, 1] << 2) | (q[:, 2] << 4) | (q[:, 3] << 6)).astype(np.uint8)


def unpack_2bit(packed: np.ndarray, count: int) -> np.ndarray:
    """Inverse of pack_2bit: the first `count` codes."""
    p = np.asarray(packed, dtype=np.uint8)
    codes = np.stack([(p >> s) & 3 for s in (0, 2, 4, 6)], axis=1).ravel()
    if codes.size < count:
        raise ValueError(f"packed data holds {codes.size} codes, {count} requested")
    return codes[:count]


def _codes(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    safe = np.where(scale > 0, scale, 1.0)[:, None]
    # Grid levels sit at -1.5, -0.5, 0.5, 1.5 (x scale): decision boundaries at -1, 0, 1.
    return np.clip(np.floor(w / safe) + 2, 0, 3).astype(np.uint8)


def quantize_int2(w: np.ndarray, iterations: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Quantize a 2-D weight matrix (out, in) to 2 bits with one float scale per output row.

    The scale starts at max|w|/1.5 (no clipping) and is refined with a few Lloyd steps that
    minimise the squared error, so each row's error is never worse than the start, where every
    element is within scale/2 of the original.
    """
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError("quantize_int2 expects a 2-D matrix")
    scale = np.abs(w).max(axis=1) / 1.5
    for _ in range(iterations):
        q = LEVELS[_codes(w, scale)]
        denom = (q * q).sum(axis=1)
        scale = np.where(denom > 0, (w * q).sum(axis=1) / np.where(denom > 0, denom, 1), 0.0)
    return pack_2bit(_codes(w, scale)), scale.astype(np.float32)


def dequantize_int2(packed: np.ndarray, scales: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    rows, cols = shape
    codes = unpack_2bit(packed, rows * cols).reshape(rows, cols)
    return LEVELS[codes] * np.asarray(scales, dtype=np.float32)[:, None]


# --- encoder -------------------------------------------------------------------------------

def to_pixels(img: Image.Image) -> np.ndarray:
    """Any PIL image -> SIDE x SIDE x 3 float32 in [0, 1]; transparency composited on white.

    Memory: the image is decoded once (a JPEG at reduced scale) and a large one is shrunk band by
    band before any conversion, so no full-size copy is made: the peak is the decoded image.
    """
    if img.format in ("JPEG", "MPO"):
        img.draft("RGB", (SIDE * 2, SIDE * 2))  # decode at reduced size: less memory and CPU
    alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    mode = "RGBA" if alpha else "RGB"
    factor = min(img.size) // SHRINK_FROM
    img = _shrink(img, factor, mode) if factor >= 2 else img.convert(mode)
    if alpha:
        rgb = Image.new("RGB", img.size, (255, 255, 255))
        rgb.paste(img, mask=img.getchannel("A"))
        img = rgb
    small = img.resize((SIDE, SIDE), Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.float32) / 255.0


def _shrink(img: Image.Image, factor: int, mode: str) -> Image.Image:
    """img.convert(mode).reduce(factor), computed a band of about 128 rows at a time.

    reduce() averages alpha-premultiplied colours, so compositing afterwards gives the same
    pixels as compositing first.
    """
    width, height = img.width // factor, img.height // factor
    out = Image.new(mode, (width, height))
    rows = max(1, 128 // factor)
    for top in range(0, height, rows):
        bottom = min(top + rows, height)
        band = img.crop((0, top * factor, width * factor, bottom * factor)).convert(mode)
        out.paste(band.reduce(factor), (0, top))
    return out


def _soft_hist(pix: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """27-bin colour histogram with triangular membership to levels 0, 0.5, 1 per channel."""
    if len(pix) == 0:
        return np.zeros(27, dtype=np.float32)
    m = np.clip(1 - 2 * np.abs(pix[:, :, None] - np.array([0.0, 0.5, 1.0])), 0, 1)
    hist = np.einsum("n,ni,nj,nk->ijk", weights, m[:, 0], m[:, 1], m[:, 2]).ravel()
    return (hist / weights.sum()).astype(np.float32)


@dataclass(frozen=True)
class Encoding:
    features: np.ndarray
    plain: bool  # no foreground found: a single-colour image
    edges: tuple[float, float]  # mean horizontal and vertical gradient magnitude


def encode(pixels: np.ndarray) -> Encoding:
    border = np.concatenate(
        [pixels[:2].reshape(-1, 3), pixels[-2:].reshape(-1, 3),
         pixels[:, :2].reshape(-1, 3), pixels[:, -2:].reshape(-1, 3)]
    )
    background = np.median(border, axis=0)
    distance = np.linalg.norm(pixels - background, axis=2)
    mask = distance > 0.2
    # Weight foreground pixels by distance from the background: pixels blended with the
    # background at edges (thin stripes after downscaling) should not dilute the colour.
    fg_hist = _soft_hist(pixels[mask], distance[mask] ** 2)
    bg_hist = _soft_hist(pixels[~mask], np.ones(int((~mask).sum())))
    gray = pixels.mean(axis=2)
    edges = (float(np.abs(np.diff(gray, axis=1)).mean()),
             float(np.abs(np.diff(gray, axis=0)).mean()))
    shape = np.zeros(64 + 7, dtype=np.float32)
    plain = int(mask.sum()) < 8
    if not plain:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        small = Image.fromarray(crop.astype(np.uint8) * 255).resize((8, 8), Image.Resampling.BOX)
        bh, bw = crop.shape[0] / SIDE, crop.shape[1] / SIDE
        transitions = np.abs(np.diff(mask.astype(np.int8), axis=1)).sum(axis=1).mean() / 4
        transitions_v = np.abs(np.diff(mask.astype(np.int8), axis=0)).sum(axis=0).mean() / 4
        shape[:64] = np.asarray(small, dtype=np.float32).ravel() / 255
        shape[64:] = [crop.mean(), bh / (bh + bw), bh, bw, mask.mean(), transitions, transitions_v]
    return Encoding(np.concatenate([fg_hist, bg_hist, shape]), plain, edges)


# --- model -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Analysis:
    shape: str
    colour: str
    background: str
    plain: bool
    edges: tuple[float, float]

    def caption(self) -> str:
        if self.plain:
            return f"a plain {self.background} image"
        background = f"{_a(self.background)} {self.background} background"
        if self.shape == "stripes":
            return f"{self.colour} stripes on {background}"
        return f"{_a(self.colour)} {self.colour} {self.shape} on {background}"


def _a(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


class Model:
    """Weights as stored (packed INT2 + scales) and their float32 dequantization for compute."""

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict) -> None:
        self.arrays = arrays
        self.meta = meta
        self.name: str = meta["name"]
        self.version: str = meta["version"]
        self.quantization = "int2"
        self.sha256: str = meta.get("sha256", "")
        self.mean, self.std = arrays["mean"], arrays["std"]
        self.w1 = dequantize_int2(arrays["w1_packed"], arrays["w1_scales"], tuple(meta["w1_shape"]))
        self.w2 = dequantize_int2(arrays["w2_packed"], arrays["w2_scales"], tuple(meta["w2_shape"]))
        self.b1, self.b2 = arrays["b1"], arrays["b2"]

    def logits(self, features: np.ndarray) -> np.ndarray:
        z = (features - self.mean) / self.std
        hidden = np.maximum(self.w1 @ z + self.b1, 0)
        return self.w2 @ np.concatenate([hidden, z]) + self.b2

    def analyse(self, image: Image.Image | np.ndarray) -> Analysis:
        """Analyse a PIL image or pixels already prepared by to_pixels()."""
        pixels = to_pixels(image) if isinstance(image, Image.Image) else image
        enc = encode(pixels)
        out = self.logits(enc.features)
        n_s, n_c = len(SHAPES), len(COLOURS)
        return Analysis(
            shape=SHAPES[int(np.argmax(out[:n_s]))],
            colour=COLOURS[int(np.argmax(out[n_s : n_s + n_c]))],
            background=COLOURS[int(np.argmax(out[n_s + n_c :]))],
            plain=enc.plain,
            edges=enc.edges,
        )

    def run(self, task: str, image: Image.Image | np.ndarray, question: str | None = None) -> str:
        a = self.analyse(image)
        if task == "captioning":
            return a.caption()
        if task == "ocr":
            return _ocr(a)
        if task == "vqa":
            return _answer(a, question or "")
        raise ValueError(f"unknown task {task!r}")


def _ocr(a: Analysis) -> str:
    # Honest: there is no text recogniser; report what the encoder does see.
    gx, gy = a.edges
    if max(gx, gy) < 0.01:
        structure = "no edges"
    elif gx > 1.5 * gy:
        structure = "mostly vertical edges"
    elif gy > 1.5 * gx:
        structure = "mostly horizontal edges"
    else:
        structure = "mixed edges"
    return f"no text detected ({structure})"


def _answer(a: Analysis, question: str) -> str:
    """Answer simple colour/shape questions from the same slots the caption uses."""
    text = question.lower().replace("?", " ").replace("colour", "color").replace("grey", "gray")
    words = text.split()
    asked_colours = set(words) & set(COLOURS)
    asked_shapes = {s for s in SHAPES if s in words or s.rstrip("s") in words}  # stripe(s)
    target = a.background if "background" in words else a.colour
    if words and words[0] in ("is", "are", "does", "do", "any"):
        if asked_shapes:
            return "yes" if a.shape in asked_shapes and not a.plain else "no"
        if asked_colours:
            return "yes" if target in asked_colours else "no"
    if "color" in words:
        return a.background if a.plain else target
    if "shape" in words:
        return "none" if a.plain else a.shape
    return f"I can only answer questions about colour and shape; I see {a.caption()}"


# --- training (deterministic) -------------------------------------------------------------

def _dataset(seed: int, per_combo: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    feats, labels = [], []
    for s, shape in enumerate(SHAPES):
        for c, colour in enumerate(COLOURS):
            for b, bg in enumerate(COLOURS):
                if bg == colour:
                    continue
                for _ in range(per_combo):
                    img = testimages.render(shape, colour, bg, rng=rng)
                    feats.append(encode(to_pixels(img)).features)
                    labels.append((s, c, b))
    return np.array(feats, dtype=np.float32), np.array(labels)


def _targets(labels: np.ndarray) -> np.ndarray:
    n_s, n_c = len(SHAPES), len(COLOURS)
    y = -np.ones((len(labels), n_s + 2 * n_c), dtype=np.float32)
    rows = np.arange(len(labels))
    y[rows, labels[:, 0]] = y[rows, n_s + labels[:, 1]] = y[rows, n_s + n_c + labels[:, 2]] = 1
    return y


def train(seed: int = 1234, per_combo: int = 4) -> tuple[dict[str, np.ndarray], dict]:
    """Fit the caption head on synthetic shapes; returns (arrays, meta) ready to serialize."""
    x, labels = _dataset(seed, per_combo)
    y = _targets(labels)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-3
    z = (x - mean) / std
    rng = np.random.default_rng(seed + 1)
    # Hidden layer: a fixed random projection, quantized first so the head fits what we ship.
    projection = rng.normal(size=(HIDDEN, z.shape[1])) / np.sqrt(z.shape[1])
    w1_packed, w1_scales = quantize_int2(projection)
    w1 = dequantize_int2(w1_packed, w1_scales, (HIDDEN, z.shape[1]))
    b1 = rng.normal(scale=0.5, size=HIDDEN).astype(np.float32)
    a = np.concatenate([np.maximum(z @ w1.T + b1, 0), z], axis=1)
    # Ridge regression for the head (strong ridge keeps weights smooth, which survives 2-bit
    # rounding), then quantize and refit each row's scale and bias on the quantized weights.
    centred = a - a.mean(axis=0)
    gram = centred.T @ centred + 30.0 * np.eye(a.shape[1])
    w2 = np.linalg.solve(gram, centred.T @ (y - y.mean(axis=0))).T
    w2_packed, _ = quantize_int2(w2)
    unit = dequantize_int2(w2_packed, np.ones(len(w2), np.float32), w2.shape)
    u = a @ unit.T
    w2_scales, b2 = np.empty(len(w2), np.float32), np.empty(len(w2), np.float32)
    for j in range(len(w2)):
        w2_scales[j], b2[j] = np.linalg.lstsq(np.stack([u[:, j], np.ones(len(u))], 1), y[:, j],
                                              rcond=None)[0]
    arrays = {
        "mean": mean.astype(np.float32), "std": std.astype(np.float32),
        "w1_packed": w1_packed, "w1_scales": w1_scales, "b1": b1,
        "w2_packed": w2_packed, "w2_scales": w2_scales, "b2": b2,
    }
    meta = {"w1_shape": list(w1.shape), "w2_shape": list(w2.shape), "train_seed": seed,
            "train_images": len(x), "shapes": list(SHAPES), "colours": list(COLOURS)}
    return arrays, meta


# --- serialization -----------------------------------------------------------------------

def serialize(arrays: dict[str, np.ndarray], meta: dict) -> bytes:
    """MAGIC | u32 header length | JSON header | raw little-endian arrays (deterministic)."""
    index, blobs, offset = {}, [], 0
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        index[key] = {"dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset}
        blobs.append(arr.tobytes())
        offset += arr.nbytes
    header = json.dumps({"meta": meta, "arrays": index}, sort_keys=True).encode()
    return MAGIC + struct.pack("<I", len(header)) + header + b"".join(blobs)


def deserialize(data: bytes) -> tuple[dict[str, np.ndarray], dict]:
    try:
        if not data.startswith(MAGIC):
            raise ValueError("bad magic")
        (hlen,) = struct.unpack_from("<I", data, len(MAGIC))
        start = len(MAGIC) + 4
        header = json.loads(data[start : start + hlen])
        body = memoryview(data)[start + hlen :]
        arrays = {}
        for key, spec in header["arrays"].items():
            dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
            count = int(np.prod(shape))
            if spec["offset"] + count * dtype.itemsize > len(body):
                raise ValueError(f"array {key} runs past the end of the file")
            arr = np.frombuffer(body, dtype=dtype, count=count, offset=spec["offset"])
            arrays[key] = arr.reshape(shape).copy()
        return arrays, header["meta"]
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise ModelLoadError(f"model file is not a valid mmllm model: {exc}") from exc


def build(out_dir: str | Path, name: str = "int2_quantized") -> dict:
    """Train, serialize and write <name>.pth and <name>.manifest.json; return the manifest."""
    arrays, meta = train()
    meta.update(name=name, version=VERSION, quantization="int2")
    data = serialize(arrays, meta)
    manifest = {"name": name, "version": VERSION, "quantization": "int2",
                "format": "mmllm-int2-v1", "file": f"{name}.pth", **digests(data)}
    model_path, manifest_path = model_paths(out_dir, name)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(data)
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load_model(model_dir: str | Path, name: str) -> Model:
    """Load and verify a model against its manifest; raises ModelLoadError."""
    model_path, manifest_path = model_paths(model_dir, name)
    manifest = read_manifest(manifest_path)
    try:
        data = model_path.read_bytes()
    except FileNotFoundError as exc:
        raise ModelLoadError(f"model file {model_path} missing") from exc
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {model_path}: {exc.strerror}") from exc
    check_digests(digests(data), manifest)
    arrays, meta = deserialize(data)
    meta = {**meta, "name": manifest.get("name", name), "sha256": manifest["sha256"]}
    meta.setdefault("version", manifest.get("version", "unknown"))
    try:
        return Model(arrays, meta)
    except (KeyError, ValueError) as exc:
        raise ModelLoadError(f"model file is not a valid mmllm model: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mmllm.model")
    sub = parser.add_subparsers(dest="command", required=True)
    cmd = sub.add_parser("build", help="train and write the model + manifest")
    cmd.add_argument("--out", required=True)
    cmd.add_argument("--name", default="int2_quantized")
    args = parser.parse_args(argv)
    started = time.monotonic()
    manifest = build(args.out, args.name)
    print(f"built {manifest['file']} ({manifest['size']} bytes, sha256 {manifest['sha256']}) "
          f"in {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
