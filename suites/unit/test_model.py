"""The model describes what is in the image, deterministically, and refuses bad files."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from mmllm import testimages
from mmllm.integrity import file_digests
from mmllm.model import ModelLoadError, load_model
from PIL import Image


@pytest.fixture(scope="module")
def model(model_dir: Path):
    return load_model(model_dir, "int2_quantized")


def image(spec: str) -> Image.Image:
    return Image.open(io.BytesIO(testimages.png(spec)))


def test_manifest_matches_file(model_dir: Path) -> None:
    manifest = json.loads((model_dir / "int2_quantized.manifest.json").read_text())
    assert manifest["quantization"] == "int2" and manifest["name"] == "int2_quantized"
    digests = file_digests(model_dir / "int2_quantized.pth")
    assert {k: manifest[k] for k in ("size", "md5", "sha256")} == digests


def test_same_image_same_caption(model) -> None:
    first = model.run("captioning", image("red-circle"))
    assert first == model.run("captioning", image("red-circle"))
    assert first == "a red circle on a white background"


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("red-circle", "a red circle on a white background"),
        ("blue-square", "a blue square on a white background"),
        ("green-triangle", "a green triangle on a white background"),
        ("yellow-circle-on-black", "a yellow circle on a black background"),
        ("orange-square-on-purple", "an orange square on a purple background"),
        ("black-stripes-on-yellow", "black stripes on a yellow background"),
    ],
)
def test_caption_names_shape_and_colours(model, spec: str, expected: str) -> None:
    assert model.run("captioning", image(spec)) == expected


def test_captions_differ_across_images(model) -> None:
    specs = ["red-circle", "blue-circle", "red-square", "green-triangle-on-gray",
             "purple-stripes-on-white", "white-circle-on-blue"]
    captions = {model.run("captioning", image(s)) for s in specs}
    assert len(captions) == len(specs)


def test_plain_image(model) -> None:
    assert model.run("captioning", Image.new("RGB", (40, 30), (30, 60, 210))) == \
        "a plain blue image"


def test_vqa_and_ocr(model) -> None:
    img = image("red-circle-on-yellow")
    assert model.run("vqa", img, "What colour is the shape?") == "red"
    assert model.run("vqa", img, "What color is the background?") == "yellow"
    assert model.run("vqa", img, "What shape is it?") == "circle"
    assert model.run("vqa", img, "Is there a square?") == "no"
    assert model.run("vqa", img, "Is it red?") == "yes"
    assert model.run("ocr", image("black-stripes-on-white")).startswith("no text detected")


def corrupted_copy(model_dir: Path, tmp_path: Path, damage) -> Path:
    target = tmp_path / "models"
    shutil.copytree(model_dir, target)
    damage(target / "int2_quantized.pth")
    return target


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize(("damage", "reason"), [
    (flip_a_byte, "checksum mismatch"),
    (truncate, "truncated"),
    (Path.unlink, "missing"),
])
def test_damaged_model_file_is_refused(model_dir: Path, tmp_path: Path, damage, reason) -> None:
    with pytest.raises(ModelLoadError, match=reason):
        load_model(corrupted_copy(model_dir, tmp_path, damage), "int2_quantized")


def test_missing_manifest_is_refused(model_dir: Path, tmp_path: Path) -> None:
    target = corrupted_copy(model_dir, tmp_path, lambda p: None)
    (target / "int2_quantized.manifest.json").unlink()
    with pytest.raises(ModelLoadError, match="manifest"):
        load_model(target, "int2_quantized")
