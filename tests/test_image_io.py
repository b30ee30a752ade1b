"""read_image / write_image: orientation, modes, bit depths, refusals; every test image is made here in tmp_path."""

from __future__ import annotations

import os
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from faceforge.errors import InputError, UsageError
from faceforge.io.image import read_image, write_image


def _halves(w: int = 40, h: int = 20) -> np.ndarray:
    """Left half red, right half blue (uint8 RGB)."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:, : w // 2] = (255, 0, 0)
    a[:, w // 2 :] = (0, 0, 255)
    return a


def test_png_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (17, 23, 3), dtype=np.uint8)
    write_image(tmp_path / "a.png", a)
    b = read_image(tmp_path / "a.png")
    assert b.dtype == np.uint8 and b.shape == (17, 23, 3) and b.flags.c_contiguous
    np.testing.assert_array_equal(a, b)
    assert os.listdir(tmp_path) == ["a.png"]  # no temporary left behind


@pytest.mark.parametrize(
    ("orientation", "shape", "top_left_colour"),
    [(1, (20, 40), "red"), (3, (20, 40), "blue"), (6, (40, 20), "red"), (8, (40, 20), "blue")],
)
def test_exif_orientation_is_applied(tmp_path, orientation, shape, top_left_colour):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[274] = orientation
    Image.fromarray(_halves()).save(path, quality=95, exif=exif)
    a = read_image(path)
    assert a.shape == (*shape, 3)
    # 6 = rotate 90 deg clockwise for display: the stored left (red) half ends up on top; 8 = counter-clockwise.
    red, blue = a[2, 2, 0] > 200 and a[2, 2, 2] < 60, a[2, 2, 2] > 200 and a[2, 2, 0] < 60
    assert red if top_left_colour == "red" else blue
    if orientation in (6, 8):  # top half one colour, bottom half the other
        assert (a[:20, :, 0].mean() > 200) == (top_left_colour == "red")
        assert (a[20:, :, 2].mean() > 200) == (top_left_colour == "red")


def test_16bit_gray_png_scales_to_8bit(tmp_path):
    v = np.array([[0, 257, 1000], [32768, 65000, 65535]], np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.png")
    a = read_image(tmp_path / "g16.png")
    want = np.rint(v * 255.0 / 65535.0).astype(np.uint8)
    assert a.shape == (2, 3, 3)
    np.testing.assert_array_equal(a[:, :, 0], want)
    np.testing.assert_array_equal(a[:, :, 0], a[:, :, 2])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_rgb_scales_to_8bit(tmp_path, suffix):
    rng = np.random.default_rng(1)
    rgb16 = rng.integers(0, 65536, (9, 11, 3), dtype=np.uint16)
    cv2.imwrite(str(tmp_path / f"c16{suffix}"), rgb16[:, :, ::-1])  # OpenCV writes BGR
    a = read_image(tmp_path / f"c16{suffix}")
    want = rgb16 * 255.0 / 65535.0
    assert a.dtype == np.uint8 and a.shape == (9, 11, 3)
    assert np.abs(a - want).max() <= 1.0


def test_16bit_gray_tiff(tmp_path):
    v = np.full((4, 5), 65535, np.uint16)
    v[0, 0] = 0
    Image.fromarray(v).save(tmp_path / "g16.tif")
    a = read_image(tmp_path / "g16.tif")
    assert a[0, 0, 0] == 0 and a[1, 1, 1] == 255


def test_cmyk_jpeg(tmp_path):
    cmyk = Image.new("CMYK", (16, 8), (0, 255, 255, 0))  # pure red ink
    cmyk.paste((0, 0, 0, 0), (8, 0, 16, 8))  # no ink: white
    cmyk.save(tmp_path / "cmyk.jpg", quality=95)
    a = read_image(tmp_path / "cmyk.jpg").astype(int)
    assert a.shape == (8, 16, 3)
    assert np.abs(a[4, 2] - (255, 0, 0)).max() < 20
    assert np.abs(a[4, 13] - (255, 255, 255)).max() < 20


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)  # opaque
    rgba[0, 1] = (10, 20, 30, 0)  # transparent -> white
    rgba[0, 2] = (0, 0, 0, 128)  # half black over white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    a = read_image(tmp_path / "a.png").astype(int)
    assert tuple(a[0, 0]) == (10, 20, 30)
    assert tuple(a[0, 1]) == (255, 255, 255)
    assert np.abs(a[0, 2] - 127).max() <= 1


def test_palette_with_transparency_and_grayscale(tmp_path):
    p = Image.new("P", (4, 2), 0)
    p.putpalette([0, 255, 0] + [200, 0, 0] * 255)
    p.paste(1, (2, 0, 4, 2))
    p.info["transparency"] = 1
    p.save(tmp_path / "p.png", transparency=1)
    a = read_image(tmp_path / "p.png")
    assert tuple(a[0, 0]) == (0, 255, 0) and tuple(a[0, 3]) == (255, 255, 255)
    Image.fromarray(np.full((3, 3), 77, np.uint8)).save(tmp_path / "l.png")
    assert np.all(read_image(tmp_path / "l.png") == 77)
    Image.new("1", (5, 5), 1).save(tmp_path / "b.png")
    assert np.all(read_image(tmp_path / "b.png") == 255)


def _one_line_naming(exc: pytest.ExceptionInfo, path) -> None:
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg


def test_refuses_text_named_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello, I am not a picture\n")
    with pytest.raises(InputError, match="not an image") as exc:
        read_image(path)
    _one_line_naming(exc, path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_refuses_truncated_file(tmp_path, fmt):
    rng = np.random.default_rng(2)
    path = tmp_path / f"cut.{fmt.lower()}"
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path, format=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot decode") as exc:
        read_image(path)
    _one_line_naming(exc, path)


def test_refuses_missing_folder_and_empty(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="not a file"):
        read_image(tmp_path)
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(InputError, match="not an image"):
        read_image(tmp_path / "empty.png")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def test_refuses_zero_size_png(tmp_path):
    header = struct.pack(">IIBBBBB", 0, 10, 8, 2, 0, 0, 0)  # width 0
    png = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(b"")) + _chunk(b"IEND", b"")
    (tmp_path / "zero.png").write_bytes(png)
    with pytest.raises(InputError) as exc:
        read_image(tmp_path / "zero.png")
    _one_line_naming(exc, tmp_path / "zero.png")


def test_refuses_too_many_pixels(tmp_path):
    path = tmp_path / "big.png"
    Image.new("1", (11_000, 10_000), 0).save(path)  # 110 MP, a few kB on disk
    with pytest.raises(InputError, match="too large") as exc:
        read_image(path)
    _one_line_naming(exc, path)
    small = tmp_path / "small.png"
    Image.new("RGB", (20, 20)).save(small)
    with pytest.raises(InputError, match="too large"):
        read_image(small, max_pixels=399)
    assert read_image(small, max_pixels=400).shape == (20, 20, 3)


def test_write_image_errors_and_formats(tmp_path):
    a = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(UsageError, match="does not exist"):
        write_image(tmp_path / "missing" / "a.png", a)
    with pytest.raises(UsageError, match="unknown image suffix"):
        write_image(tmp_path / "a.xyz", a)
    with pytest.raises(UsageError, match="uint8"):
        write_image(tmp_path / "a.png", a.astype(np.float32))
    with pytest.raises(UsageError, match="shape"):
        write_image(tmp_path / "a.png", np.zeros((4, 5, 2), np.uint8))
    with pytest.raises(UsageError, match="alpha"):
        write_image(tmp_path / "a.jpg", np.zeros((4, 5, 4), np.uint8))
    write_image(tmp_path / "g.png", np.full((4, 5), 9, np.uint8))
    assert np.all(read_image(tmp_path / "g.png") == 9)
    write_image(tmp_path / "x.jpg", np.full((8, 8, 3), 128, np.uint8))
    assert np.abs(read_image(tmp_path / "x.jpg").astype(int) - 128).max() <= 2
    # Overwriting replaces the file; nothing else appears in the folder.
    write_image(tmp_path / "g.png", np.full((4, 5), 200, np.uint8))
    assert np.all(read_image(tmp_path / "g.png") == 200)
    assert sorted(os.listdir(tmp_path)) == ["g.png", "x.jpg"]
