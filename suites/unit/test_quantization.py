"""INT2 quantization: packing is exact, the round trip error is bounded."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from mmllm.model import LEVELS, dequantize_int2, pack_2bit, quantize_int2, unpack_2bit


@given(st.lists(st.integers(0, 3), max_size=257))
def test_pack_unpack_is_exact(codes: list[int]) -> None:
    packed = pack_2bit(np.array(codes, dtype=np.uint8))
    assert packed.dtype == np.uint8
    assert len(packed) == -(-len(codes) // 4)  # four codes per byte
    assert unpack_2bit(packed, len(codes)).tolist() == codes


def test_pack_layout_first_code_in_low_bits() -> None:
    assert pack_2bit(np.array([1, 2, 3, 0])).tolist() == [0b00111001]


def test_round_trip_error_bound() -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(64, 256)).astype(np.float32)
    packed, scales = quantize_int2(w)
    assert packed.nbytes == w.size // 4 and scales.shape == (64,)
    restored = dequantize_int2(packed, scales, w.shape)
    # Inside the grid's range every element is within half a step (scale/2) of the original.
    inside = np.abs(w) <= 2 * scales[:, None]
    assert np.all(np.abs(w - restored)[inside] <= scales[:, None].repeat(256, 1)[inside] / 2 + 1e-6)
    # Whole-matrix bound: a 4-level quantizer of Gaussian weights has RMS error ~0.345 sigma.
    relative_rms = np.sqrt(np.mean((w - restored) ** 2) / np.mean(w**2))
    assert relative_rms < 0.36


def test_values_on_the_grid_survive_exactly() -> None:
    rng = np.random.default_rng(1)
    scales = rng.uniform(0.1, 2.0, size=8).astype(np.float32)
    w = LEVELS[rng.integers(0, 4, size=(8, 40))] * scales[:, None]
    packed, got_scales = quantize_int2(w)
    np.testing.assert_allclose(dequantize_int2(packed, got_scales, w.shape), w, rtol=1e-5)


def test_zero_rows_stay_zero() -> None:
    w = np.zeros((3, 5), dtype=np.float32)
    packed, scales = quantize_int2(w)
    assert np.all(dequantize_int2(packed, scales, w.shape) == 0)
