#!/usr/bin/python3
"""Golden data for tests/test_corrupt.c: the deterministic corruptions of
runtime/data/corrupt.c computed independently with numpy and PIL.

  gaussian_blur  separable Gaussian, radius int(4 sigma + 0.5), edges
                 repeated (skimage.filters.gaussian's mode 'nearest')
  contrast       (x - channel mean) * c + channel mean
  brightness     RGB -> HSV (skimage's rgb2hsv), V + b clipped, HSV -> RGB;
                 one channel: x + b
  pixelate       PIL's own Image.resize(BOX) down to int(side * f) and back
  jpeg           8x8 blocks of the orthonormal DCT-II (a numpy matrix
                 product), the libjpeg tables scaled for quality q,
                 quantised with round-half-away-from-zero; RGB through
                 JFIF YCbCr.  Also PIL's real JPEG encoder for the gray
                 image, which the test only holds to a loose tolerance
                 (libjpeg's integer DCT rounds differently).
Parameters are CIFAR-10-C's (make_cifar_c.py), severities 1..5.  Images
are uint8 CHW; every result is clipped and rounded as x -> floor(255 x + .5).

Run with Debian's python: /usr/bin/python3 tests/make_golden_corrupt.py
It rewrites tests/data/corrupt/golden.txt: lines "name severity c h w hex"
("input" lines carry the clean images, "pil_jpeg" PIL's encoder)."""
import io
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "corrupt")
BLUR = [0.4, 0.6, 0.7, 0.8, 1.0]
CONTRAST = [0.75, 0.5, 0.4, 0.3, 0.15]
BRIGHT = [0.05, 0.1, 0.15, 0.2, 0.3]
PIXELATE = [0.95, 0.9, 0.85, 0.75, 0.65]
QUALITY = [80, 65, 58, 50, 40]


def to_u8(x):
    return np.clip(np.floor(np.clip(x, 0, 1) * 255 + 0.5), 0, 255).astype(np.uint8)


def blur(x, sigma):
    rad = int(4 * sigma + 0.5)
    k = np.exp(-0.5 * np.arange(-rad, rad + 1) ** 2 / sigma ** 2)
    k /= k.sum()
    out = np.empty_like(x)
    h, w = x.shape[1:]
    for c in range(x.shape[0]):
        p = np.pad(x[c], rad, mode="edge")
        across = sum(k[i] * p[:, i:i + w] for i in range(2 * rad + 1))
        out[c] = sum(k[i] * across[i:i + h, :] for i in range(2 * rad + 1))
    return out


def contrast(x, c):
    m = x.mean(axis=(1, 2), keepdims=True)
    return (x - m) * c + m


def rgb2hsv(rgb):
    r, g, b = rgb
    v = rgb.max(0)
    delta = v - rgb.min(0)
    s = np.where(v > 0, delta / np.where(v > 0, v, 1), 0)
    d = np.where(delta > 0, delta, 1)
    h = np.where(r == v, (g - b) / d, np.where(g == v, 2 + (b - r) / d, 4 + (r - g) / d))
    h = np.where(delta > 0, (h / 6) % 1, 0)
    return h, s, v


def hsv2rgb(h, s, v):
    i = np.floor(h * 6).astype(int) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = np.zeros((3,) + h.shape)
    for k in range(6):
        for ch in range(3):
            out[ch] = np.where(i == k, choices[k][ch], out[ch])
    return out


def brightness(x, b):
    if x.shape[0] != 3:
        return x + b
    h, s, v = rgb2hsv(x)
    return hsv2rgb(h, s, np.clip(v + b, 0, 1))


def pixelate(u8, f):
    c, h, w = u8.shape
    out = np.empty_like(u8)
    for ch in range(c):
        im = Image.fromarray(u8[ch])
        im = im.resize((int(w * f), int(h * f)), Image.BOX).resize((w, h), Image.BOX)
        out[ch] = np.asarray(im)
    return out


def jpeg_tables(q):
    luma = np.array([
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
        14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
        18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99])
    chroma = np.full(64, 99)
    chroma[[0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 24, 25]] = \
        [17, 18, 24, 47, 18, 21, 26, 66, 24, 26, 56, 47, 66]
    scale = 5000 // q if q < 50 else 200 - 2 * q
    t = [np.clip((base * scale + 50) // 100, 1, 255).reshape(8, 8).astype(float)
         for base in (luma, chroma)]
    return t


def dct_matrix():
    k, n = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    m = np.cos(np.pi * (2 * n + 1) * k / 16) * np.sqrt(2 / 8)
    m[0] = np.sqrt(1 / 8)
    return m


def jpeg_plane(p, q):
    h, w = p.shape
    H, W = -(-h // 8) * 8, -(-w // 8) * 8
    a = np.pad(p, ((0, H - h), (0, W - w)), mode="edge") - 128
    m = dct_matrix()
    blocks = a.reshape(H // 8, 8, W // 8, 8).transpose(0, 2, 1, 3)
    f = m @ blocks @ m.T
    f = np.sign(f / q) * np.floor(np.abs(f / q) + 0.5) * q
    back = (m.T @ f @ m).transpose(0, 2, 1, 3).reshape(H, W)
    return back[:h, :w] + 128


def jpeg(u8, quality):
    x = u8.astype(float)
    ql, qc = jpeg_tables(quality)
    if x.shape[0] != 3:
        return np.stack([jpeg_plane(p, ql) for p in x]) / 255
    r, g, b = x
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    y, cb, cr = jpeg_plane(y, ql), jpeg_plane(cb, qc) - 128, jpeg_plane(cr, qc) - 128
    return np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb]) / 255


def pil_jpeg(u8, quality):
    buf = io.BytesIO()
    Image.fromarray(u8[0]).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))[None]


def image(rng, c, h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    out = np.zeros((c, h, w))
    for ch in range(c):
        for _ in range(4):
            cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, h / 2)
            out[ch] += rng.uniform(60, 200) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r ** 2)
        out[ch] += rng.normal(0, 12, (h, w))
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def line(f, name, sev, u8):
    c, h, w = u8.shape
    f.write("%s %d %d %d %d %s\n" % (name, sev, c, h, w, u8.tobytes().hex()))


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(61)
    with open(os.path.join(OUT, "golden.txt"), "w") as f:
        f.write("# made by tests/make_golden_corrupt.py\n")
        for u8 in (image(rng, 1, 28, 28), image(rng, 3, 20, 20)):
            line(f, "input", 0, u8)
            x = u8.astype(float) / 255
            for s in range(1, 6):
                line(f, "gaussian_blur", s, to_u8(blur(x, BLUR[s - 1])))
                line(f, "contrast", s, to_u8(contrast(x, CONTRAST[s - 1])))
                line(f, "brightness", s, to_u8(brightness(x, BRIGHT[s - 1])))
                line(f, "pixelate", s, pixelate(u8, PIXELATE[s - 1]))
                line(f, "jpeg", s, to_u8(jpeg(u8, QUALITY[s - 1])))
                if u8.shape[0] == 1:
                    line(f, "pil_jpeg", s, pil_jpeg(u8, QUALITY[s - 1]))


if __name__ == "__main__":
    main()
