#!/usr/bin/python3
"""Writes the committed seed inputs of the PNG, IDX and checkpoint fuzz
harnesses (tests/fuzz/seeds/{png,idx,checkpoint}/).

The ONNX and TensorProto harnesses draw their seeds from libonnx-testdata
at run time (tests/fuzz/run_fuzz.sh); these three formats have no such
source, so small files of every kind the readers accept are made here,
with nothing but the standard library, and committed with this script.

  png:         every PNG colour type and bit depth libpng decodes (grey
               1/2/4/8/16, grey+alpha, RGB, RGBA, palette with tRNS),
               Adam7-interlaced ones, a few pixels each;
  idx:         a mode byte (see fuzz_idx.c) then IDX label and image files,
               plain, gzipped by the harness, and gzipped here;
  checkpoint:  a mode byte (see fuzz_checkpoint.c) then checkpoints of the
               format in runtime/checkpoint.h, with and without the CRC
               trailer the harness can add.

Usage: make_seeds.py [OUT_DIR]   (default: the seeds/ folder beside it)
"""
import gzip
import os
import struct
import sys
import zlib


def png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data +
            struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))


def pack_row(samples, depth):
    """Samples of one row packed MSB first at `depth` bits."""
    if depth >= 8:
        fmt = ">B" if depth == 8 else ">H"
        return b"".join(struct.pack(fmt, s) for s in samples)
    out, acc, nbits = bytearray(), 0, 0
    for s in samples:
        acc = (acc << depth) | s
        nbits += depth
        if nbits == 8:
            out.append(acc)
            acc, nbits = 0, 0
    if nbits:
        out.append(acc << (8 - nbits))
    return bytes(out)


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
         (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def png(width, height, color, depth, pixel, interlace=False, palette=None,
        trns=None, filt=0):
    """pixel(x, y) -> tuple of samples for colour type `color`."""
    def scan(xs, ys):
        raw = bytearray()
        for y in ys:
            row = [s for x in xs for s in pixel(x, y)]
            raw.append(filt if depth >= 8 else 0)
            data = pack_row(row, depth)
            if filt == 1 and depth >= 8:   # Sub filter
                bpp = max(1, len(pixel(0, 0)) * depth // 8)
                data = bytes((data[i] - (data[i - bpp] if i >= bpp else 0)) & 255
                             for i in range(len(data)))
            raw += data
        return raw

    if interlace:
        raw = bytearray()
        for x0, y0, dx, dy in ADAM7:
            xs = list(range(x0, width, dx))
            ys = list(range(y0, height, dy))
            if xs and ys:
                raw += scan(xs, ys)
    else:
        raw = scan(range(width), range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0,
                       1 if interlace else 0)
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
    if palette is not None:
        out += png_chunk(b"PLTE", bytes(c for rgb in palette for c in rgb))
    if trns is not None:
        out += png_chunk(b"tRNS", trns)
    out += png_chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    return out + png_chunk(b"IEND", b"")


def png_seeds():
    seeds = {}
    w, h = 5, 3
    for depth in (1, 2, 4, 8, 16):
        top = (1 << depth) - 1
        seeds["grey%d.png" % depth] = png(
            w, h, 0, depth, lambda x, y, t=top: ((x * 7 + y * 3) % (t + 1),))
    for depth in (8, 16):
        top = (1 << depth) - 1
        seeds["grey_alpha%d.png" % depth] = png(
            w, h, 4, depth, lambda x, y, t=top: (x * t // w, y * t // h))
        seeds["rgb%d.png" % depth] = png(
            w, h, 2, depth,
            lambda x, y, t=top: (x * t // w, y * t // h, (x + y) * t // (w + h)))
        seeds["rgba%d.png" % depth] = png(
            w, h, 6, depth,
            lambda x, y, t=top: (x * t // w, y * t // h, t // 2, (x * y) % (t + 1)))
    palette = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 99, 199)]
    for depth in (1, 2, 4, 8):
        n = min(len(palette), 1 << depth)
        seeds["palette%d.png" % depth] = png(
            w, h, 3, depth, lambda x, y, n=n: ((x + y) % n,),
            palette=palette[:n], trns=bytes([255, 128][:n]))
    seeds["grey8_trns.png"] = png(w, h, 0, 8, lambda x, y: (x * 40,),
                                  trns=struct.pack(">H", 40))
    seeds["rgb8_sub.png"] = png(w, h, 2, 8, lambda x, y: (x * 50, y * 80, 7),
                                filt=1)
    seeds["rgb8_adam7.png"] = png(9, 9, 2, 8, lambda x, y: (x * 28, y * 28, 99),
                                  interlace=True)
    seeds["grey1_adam7.png"] = png(9, 9, 0, 1, lambda x, y: ((x ^ y) & 1,),
                                   interlace=True)
    seeds["one_pixel.png"] = png(1, 1, 0, 8, lambda x, y: (77,))
    return seeds


def idx(dims, data):
    return bytes([0, 0, 8, len(dims)]) + b"".join(
        struct.pack(">I", d) for d in dims) + bytes(data)


def idx_seeds():
    labels = idx([10], [i % 10 for i in range(10)])
    images = idx([2, 3, 4], [(i * 37) % 256 for i in range(24)])
    rank2 = idx([3, 2], range(6))
    rank4 = idx([1, 2, 2, 2], range(8))
    seeds = {}
    for name, body in (("labels", labels), ("images", images),
                       ("rank2", rank2), ("rank4", rank4)):
        seeds["plain_%s.bin" % name] = b"\x00" + body
        seeds["gz_by_harness_%s.bin" % name] = b"\x01" + body
        seeds["gz_file_%s.bin" % name] = b"\x03" + gzip.compress(body, mtime=0)
    return seeds


DTYPES = {1: ("<f", 4), 7: ("<q", 8), 2: ("<B", 1), 11: ("<d", 8),
          10: ("<H", 2), 9: ("<B", 1)}


def ckpt_body(meta, entries):
    out = b"SCCKPT01" + struct.pack("<Q", len(meta)) + meta
    out += struct.pack("<I", len(entries))
    for name, dtype, dims, values in entries:
        fmt, size = DTYPES[dtype]
        data = b"".join(struct.pack(fmt, v) for v in values)
        n = 1
        for d in dims:
            n *= d
        assert len(data) == n * size
        out += struct.pack("<I", len(name)) + name
        out += struct.pack("<II", dtype, len(dims))
        out += b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<Q", len(data)) + data
    return out


def ckpt_seeds():
    meta = b'{"epoch": 2, "step": 14, "seed": 7, "rng": [1, 2, 3]}'
    cases = {
        "empty": (b"", []),
        "meta_only": (meta, []),
        "one_float": (meta, [(b"fc.weight", 1, [2, 3], [0.5 * i for i in range(6)])]),
        "mixed": (meta, [
            (b"conv1.weight", 1, [2, 1, 2, 2], [i / 8 for i in range(8)]),
            (b"step", 7, [], [14]),
            (b"mask", 9, [4], [1, 0, 1, 1]),
            (b"bytes", 2, [3], [0, 128, 255]),
            (b"half", 10, [2], [0x3c00, 0xc000]),
            (b"double", 11, [1, 1], [3.25]),
            (b"empty", 1, [0, 5], []),
        ]),
    }
    seeds = {}
    for name, (m, entries) in cases.items():
        body = ckpt_body(m, entries)
        crc = struct.pack("<I", zlib.crc32(body) & 0xffffffff)
        seeds["fixcrc_%s.bin" % name] = b"\x01" + body
        seeds["whole_%s.bin" % name] = b"\x00" + body + crc + b"END!"
    return seeds


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "seeds")
    for kind, seeds in (("png", png_seeds()), ("idx", idx_seeds()),
                        ("checkpoint", ckpt_seeds())):
        d = os.path.join(out, kind)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds, %d bytes" % (d, len(seeds),
                                          sum(len(s) for s in seeds.values())))


if __name__ == "__main__":
    main()
