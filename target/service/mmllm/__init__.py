"""Mobile Multi-Modal LLM inference service (a tiny, real INT2-quantized numpy model)."""

__version__ = "1.0.0"
