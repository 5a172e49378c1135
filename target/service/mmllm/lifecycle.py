"""Model lifecycle: load at startup, watch the file, reload or unload on change."""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from mmllm.config import ModelConfig
from mmllm.integrity import ModelLoadError, model_paths, read_manifest, verify_file
from mmllm.metrics import Metrics
from mmllm.model import Model, load_model

log = logging.getLogger("mmllm.model")

Signature = tuple[tuple[int, int] | None, tuple[int, int] | None]


class ModelManager:
    def __init__(self, cfg: ModelConfig, metrics: Metrics) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self._paths = model_paths(cfg.dir, cfg.name)
        self._lock = threading.Lock()
        self.model: Model | None = None
        self.error = "not loaded yet"
        self._loaded_sig: Signature | None = None
        self._candidate_sig: Signature | None = None
        self._verified: tuple[Signature, str] | None = None  # (signature, error or "")

    def signature(self) -> Signature:
        """(size, mtime) of the model file and of its manifest; None for a missing file."""
        sig = []
        for path in self._paths:
            try:
                st = os.stat(path)
                sig.append((st.st_size, st.st_mtime_ns))
            except OSError:
                sig.append(None)
        return tuple(sig)

    def load(self) -> bool:
        with self._lock:
            sig = self.signature()
            try:
                model = load_model(self._cfg.dir, self._cfg.name)
            except ModelLoadError as exc:
                self.model, self.error = None, exc.reason
                self._metrics.model_load_failures.inc()
                self._metrics.model_loaded.set(0)
                self._metrics.dependency_up.labels("model").set(0)
                log.error("Model loading failure: %s", exc.reason,
                          extra={"model": self._cfg.name, "model_dir": self._cfg.dir})
            else:
                self.model, self.error = model, ""
                self._metrics.model_loaded.set(1)
                self._metrics.dependency_up.labels("model").set(1)
                log.info("Model loaded: %s %s (%s)", model.name, model.version, model.quantization,
                         extra={"sha256": model.sha256})
            self._loaded_sig = sig
            return self.model is not None

    def watch_once(self) -> None:
        """One poll of the watcher. Reloads only once a change has been stable for one poll,
        so a file that is still being copied or replaced is not judged half-written."""
        sig = self.signature()
        if sig == self._loaded_sig:
            self._candidate_sig = None
        elif sig != self._candidate_sig:
            self._candidate_sig = sig
        else:
            log.info("Model file changed, reloading", extra={"model": self._cfg.name})
            self._candidate_sig = None
            self.load()

    def check(self) -> dict[str, Any]:
        """Loaded, and the file on disk still matches its manifest (verified once per change)."""
        model = self.model
        if model is None:
            return {"status": "fail", "error": f"model not loaded: {self.error}"}
        sig = self.signature()
        if self._verified is None or self._verified[0] != sig:
            try:
                verify_file(self._paths[0], read_manifest(self._paths[1]))
                self._verified = (sig, "")
            except ModelLoadError as exc:
                self._verified = (sig, exc.reason)
        error = self._verified[1]
        self._metrics.dependency_up.labels("model").set(0 if error else 1)
        if error:
            return {"status": "fail", "error": error}
        return {"status": "ok", "name": model.name, "version": model.version,
                "quantization": model.quantization, "sha256": model.sha256}
