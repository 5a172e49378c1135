"""A light, bounded load: health checks and real inferences (run by test_load.py)."""

from __future__ import annotations

import base64
import io
import os

from locust import HttpUser, between, task
from PIL import Image, ImageDraw


def _png() -> str:
    image = Image.new("RGB", (32, 32), "white")
    ImageDraw.Draw(image).ellipse((6, 6, 26, 26), fill="red")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


IMAGE = _png()
AUTH = {"Authorization": f"Bearer {os.environ['MMLLM_API_KEY']}"}  # set by test_load.py


class InferenceUser(HttpUser):
    wait_time = between(0.05, 0.2)

    @task(3)
    def infer(self) -> None:
        self.client.post("/model/inference", json={"image": IMAGE, "task": "captioning"},
                         headers=AUTH)

    @task(1)
    def health(self) -> None:
        self.client.get("/health")
