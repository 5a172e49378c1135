"""A short CPU spike: a client app uploads a burst of full-resolution photos, each distinct (no
answer from a cache), under the released pixel limit, for `duration` (a production span,
compressed like the rules), then stops by itself. Every upload answered 200 is an acknowledged
inference that must be stored. Revert stops the uploads if they are still going."""

from __future__ import annotations

from dataclasses import dataclass

from faults.pixel_release import Uploads, screenshot
from fixtures.stack import Stack


@dataclass
class PhotoBurst:
    width: int = 4000
    height: int = 3000
    clients: int = 4
    duration: str = "1m"
    description: str = ("A client app uploaded a burst of full-resolution photos for about a "
                        "minute.")
    uploads: Uploads | None = None

    @property
    def acknowledged_ids(self) -> list[str]:
        return self.uploads.acknowledged_ids if self.uploads else []

    def inject(self, stack: Stack) -> str:
        image = screenshot(self.width, self.height)
        seconds = stack.compression.scale(self.duration)
        self.uploads = Uploads(self.clients, seconds)
        first = self.uploads.start(stack, image)
        return (f"{self.clients} clients upload {self.width}x{self.height} PNGs for "
                f"{seconds:g}s ({self.duration} compressed); {first} answered so far")

    def revert(self, stack: Stack) -> None:
        if self.uploads:
            self.uploads.stop()

    def residue(self, stack: Stack) -> list[str]:
        running = self.uploads is not None and self.uploads.running()
        return ["the photo uploads are still going"] if running else []
