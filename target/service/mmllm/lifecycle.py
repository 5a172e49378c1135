"""Model lifecycle: load at startup, watch the file, reload when it changes.

A model that was loaded and verified keeps serving when its file goes bad on disk: the reload
fails (model_load_failures_total grows), /health and /ready report the file as failed
(model_file_verified is 0, which fires ModelLoadFailure), and inference goes on answering with
the model in memory until a good file is in place again. Only a start with a bad file leaves the
service without a model.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path
from typing import Any

from mmllm.config import ModelConfig
from mmllm.integrity import ModelLoadError, model_paths, read_manifest, verify_file
from mmllm.metrics import Metrics
from mmllm.model import Model, load_model

log = logging.getLogger("mmllm.model")

Signature = tuple[str | None, str | None]


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ModelManager:
    def __init__(self, cfg: ModelConfig, metrics: Metrics) -> None:
        self._cfg = cfg
        self._metrics = metrics
        self._paths = model_paths(cfg.dir, cfg.name)
        self._lock = threading.Lock()
        self.model: Model | None = None
        self.error = "not loaded yet"  # why the last load failed; "" after a good one
        self._loaded_sig: Signature | None = None
        self._candidate_sig: Signature | None = None

    def signature(self) -> Signature:
        """The sha256 of the model file and of its manifest (None for a missing file).

        Content, not size and mtime: a rewrite that keeps both is seen too. The model file is
        small (14 KB: hashing it and its manifest takes ~20 µs).
        """
        return _sha256(self._paths[0]), _sha256(self._paths[1])

    def load(self) -> bool:
        """Load and verify the model; on failure keep serving the model already loaded, if any."""
        with self._lock:
            sig = self.signature()
            try:
                model = load_model(self._cfg.dir, self._cfg.name)
            except ModelLoadError as exc:
                self.error = exc.reason
                self._metrics.model_load_failures.inc()
                self._metrics.model_file_verified.set(0)
                kept = self.model
                if kept is None:
                    self._metrics.model_loaded.set(0)
                    self._metrics.dependency_up.labels("model").set(0)
                log.error("Model loading failure: %s%s", exc.reason,
                          f"; still serving {kept.name} {kept.version} loaded before" if kept
                          else "", extra={"model": self._cfg.name, "model_dir": self._cfg.dir})
            else:
                self.model, self.error = model, ""
                self._metrics.model_loaded.set(1)
                self._metrics.model_file_verified.set(1)
                self._metrics.dependency_up.labels("model").set(1)
                log.info("Model loaded: %s %s (%s)", model.name, model.version, model.quantization,
                         extra={"sha256": model.sha256})
            self._loaded_sig = sig
            return not self.error

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
        """A model is loaded, and the file on disk matches its manifest (hashed on every call:
        ~65 µs for md5 + sha256 of the 14 KB file and reading the manifest)."""
        model = self.model
        if model is None:
            return {"status": "fail", "error": f"model not loaded: {self.error}"}
        try:
            verify_file(self._paths[0], read_manifest(self._paths[1]))
            error = ""
        except ModelLoadError as exc:
            error = exc.reason
        self._metrics.model_file_verified.set(0 if error else 1)
        self._metrics.dependency_up.labels("model").set(0 if error else 1)
        serving = {"name": model.name, "version": model.version,
                   "quantization": model.quantization, "sha256": model.sha256}
        if error:
            return {"status": "fail", "error": f"model {self._cfg.name}: {error}; the model "
                    "loaded before keeps serving", "serving": serving}
        return {"status": "ok", **serving}
