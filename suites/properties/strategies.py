"""What a hostile or broken client may send to /model/inference, as hypothesis strategies.

Unconstrained on purpose: any bytes; any JSON value, of any depth and size up to the body limit,
with text JSON can carry but UTF-8 cannot; real images flipped and cut; any content type and
header; requests cut short on the wire. Shared by the in-process property tests
(suites/unit/test_inference_properties.py) and the live-stack ones (test_inference_fuzz.py).
"""

from __future__ import annotations

import base64
import io
import json

from hypothesis import strategies as st
from PIL import Image, ImageDraw

TASKS = ["captioning", "ocr", "vqa", "", "CAPTIONING"]


def body_limit(max_image_bytes: int) -> int:
    """The service's request body limit for a given server.max_image_bytes."""
    return max_image_bytes * 4 // 3 + 64 * 1024


def _encoded(mode: str, fmt: str, **options: object) -> bytes:
    img = Image.new("RGB", (72, 56), "white")
    ImageDraw.Draw(img).ellipse((12, 8, 56, 48), fill="red")
    buf = io.BytesIO()
    img.convert(mode).save(buf, fmt, **options)
    return buf.getvalue()


SEED_IMAGES = [
    _encoded("RGB", "PNG"),
    _encoded("RGBA", "PNG"),
    _encoded("P", "PNG", transparency=0),
    _encoded("I;16", "PNG"),
    _encoded("RGB", "JPEG"),
    _encoded("RGB", "JPEG", progressive=True),
    _encoded("CMYK", "JPEG"),
    _encoded("L", "JPEG"),
    _encoded("RGB", "GIF"),
    _encoded("RGB", "BMP"),
]

# Text that JSON can carry but UTF-8 cannot: lone surrogates; and NUL, controls, every plane.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: st.lists(children, max_size=6) | st.dictionaries(any_text, children,
                                                                      max_size=6),
    max_leaves=40,
)


def to_json(value: object) -> bytes:
    """ensure_ascii: a lone surrogate goes out as a \\udXXX escape, as any JSON encoder sends it;
    NaN and Infinity go out too (Python's json accepts them)."""
    return json.dumps(value, ensure_ascii=True).encode()


@st.composite
def mangled_images(draw: st.DrawFn) -> bytes:
    """A real PNG/JPEG (or GIF/BMP), with bytes overwritten, cut short or extended."""
    data = bytearray(draw(st.sampled_from(SEED_IMAGES)))
    for _ in range(draw(st.integers(0, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data) + draw(st.binary(max_size=40))


images = st.one_of(
    mangled_images().map(lambda b: base64.b64encode(b).decode()),
    mangled_images().map(lambda b: "data:image/png;base64," + base64.b64encode(b).decode()),
    st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
    any_text,
    json_values,
)
inference_like = st.builds(
    lambda extra, fields: {**extra, **fields},
    st.dictionaries(any_text, json_values, max_size=3),
    st.fixed_dictionaries({}, optional={
        "image": images,
        "task": st.sampled_from(TASKS) | json_values,
        "question": any_text | json_values,
    }),
)


@st.composite
def deep_json(draw: st.DrawFn, limit: int) -> bytes:
    """Arrays or objects nested as deep as the body limit allows."""
    depth = draw(st.integers(1, limit // 10))
    if draw(st.booleans()):
        return b"[" * depth + b"]" * depth
    return b'{"image":' * depth + b"1" + b"}" * depth


@st.composite
def big_json(draw: st.DrawFn, limit: int) -> bytes:
    """A string, a flat array or a number of any size up to just past the body limit."""
    size = draw(st.integers(0, limit + 1024))
    kind = draw(st.sampled_from(["string", "array", "number"]))
    if kind == "string":
        return to_json({"image": "A" * size, "task": "captioning"})
    if kind == "array":
        return b"[" + b"0," * (size // 2) + b"0]"
    return b'{"task": "ocr", "image": ' + b"9" * max(size, 1) + b"}"  # past 4300 digits


@st.composite
def truncated(draw: st.DrawFn) -> bytes:
    body = to_json(draw(inference_like))
    return body[: draw(st.integers(0, len(body)))]


def bodies(limit: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        inference_like.map(to_json),
        json_values.map(to_json),
        st.binary(max_size=2000),
        deep_json(limit),
        big_json(limit),
        truncated(),
    )


header_names = st.text(alphabet="!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
                       min_size=1, max_size=20)
header_values = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                      exclude_characters="\x7f"), max_size=80).map(
    lambda v: v.strip().encode("latin-1"))  # bytes: as they go on the wire
# authorization: the tests send a valid key, so that the body and the rest are what is tested
RESERVED = {"content-length", "transfer-encoding", "host", "connection", "expect", "upgrade",
            "authorization"}
headers = st.dictionaries(header_names.filter(lambda n: n.lower() not in RESERVED),
                          header_values, max_size=5)
content_types = st.one_of(
    st.sampled_from([b"application/json", b"application/json; charset=latin-1", b"text/plain",
                     b"application/octet-stream", b"multipart/form-data; boundary=x",
                     b"application/x-www-form-urlencoded", b""]),
    header_values,
)


@st.composite
def raw_requests(draw: st.DrawFn, limit: int) -> tuple[bytes, bool]:
    """A POST on the wire whose body is cut short, longer than declared, or chunked and cut,
    with raw header bytes; and whether the client then closes its side (else it waits)."""
    body = draw(bodies(limit).filter(lambda b: len(b) < 4096))
    declared = draw(st.sampled_from([len(body), len(body) + 1, len(body) + 500,
                                     max(0, len(body) - 3)]))
    raw_headers = b"".join(name.encode() + b": " + value + b"\r\n"
                           for name, value in draw(headers).items())
    if draw(st.booleans()):
        framing = f"Content-Length: {declared}\r\n".encode()
        sent = body[: draw(st.integers(0, len(body)))] if declared > len(body) else body
    else:
        framing = b"Transfer-Encoding: chunked\r\n"
        chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        sent = chunked[: draw(st.integers(0, len(chunked)))]
    head = b"POST /model/inference HTTP/1.1\r\nHost: test\r\n" + framing + raw_headers + b"\r\n"
    return head + sent, draw(st.booleans())


def server_errors(metrics_text: str) -> dict[str, float]:
    """Series that count service faults: inference status="error", and 5xx answers of the
    inference route or of unmatched routes (/health and /ready report dependencies)."""
    found = {}
    for line in metrics_text.splitlines():
        name_labels, _, value = line.rpartition(" ")
        if 'status="error"' in line or (
                line.startswith("http_requests_total") and 'status="5' in line
                and 'handler="/health"' not in line and 'handler="/ready"' not in line):
            found[name_labels] = float(value)
    return found
