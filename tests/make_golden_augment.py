#!/usr/bin/python3
"""make_golden_augment.py: golden data for runtime/data's image operations,
from torchvision 0.14's functional transforms.

Writes tests/data/augment/golden.txt, read by tests/test_augment.c.  Every
case is one deterministic piece of the augmentation pipeline with fixed
parameters (a crop box, a jitter factor, a blur sigma, a RandAugment
magnitude), applied by torchvision to a fixed seeded image:

  resized_crop  F.resized_crop(x, top, left, h, w, size, BILINEAR,
                antialias=True) on float [0,1] (PIL-style antialiased
                bilinear, which is what SupContrast's PIL pipeline does)
  resize        F.resize(x, [oh, ow], BILINEAR, antialias=True) on float
                [0,255] (the ImageFolder resize)
  brightness, contrast, saturation, hue, grayscale, gaussian_blur, hflip
                the float tensor ops on [0,1]
  op            torchvision.transforms.autoaugment._apply_op(img, NAME,
                magnitude, NEAREST, fill=None): colour ops on float
                [0,1], geometric and 8-bit ops (posterize, solarize,
                equalize) on uint8 as RandAugment requires

Run with Debian's interpreter:  /usr/bin/python3 tests/make_golden_augment.py
The output is deterministic; commit it together with this script.

Format (whitespace-separated tokens):
  image NAME C H W V...        a uint8 image
  case KIND IMAGE ARGS... ;    then  out C H W V...  (floats; [0,1]
                               except resize, which is on [0,255])
"""
import os
import sys

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import _apply_op

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "augment", "golden.txt")


def smooth_image(rng, c, h, w):
    """Random but locally smooth, so crops and blurs are not just noise."""
    base = rng.integers(0, 256, size=(c, h // 2 + 2, w // 2 + 2)).astype(np.float64)
    t = torch.from_numpy(base)[None]
    t = torch.nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[0]
    t = t + torch.from_numpy(rng.normal(0, 12, size=(c, h, w)))
    return t.round().clamp(0, 255).to(torch.uint8)


def fmt_image(name, img):
    c, h, w = img.shape
    vals = " ".join(str(int(v)) for v in img.flatten().tolist())
    return f"image {name} {c} {h} {w} {vals}\n"


def fmt_out(t):
    t = t.to(torch.float64)
    c, h, w = t.shape
    vals = " ".join(f"{v:.6g}" for v in t.flatten().tolist())
    return f"out {c} {h} {w} {vals}\n"


def main():
    assert torchvision.__version__.startswith("0.14"), torchvision.__version__
    rng = np.random.default_rng(20240521)
    images = {
        "rgb": smooth_image(rng, 3, 10, 12),
        "gray": smooth_image(rng, 1, 9, 11),
        "big": smooth_image(rng, 3, 20, 24),
        "sat": smooth_image(rng, 3, 8, 9),
    }
    lines = ["# golden data for tests/test_augment.c, written by tests/make_golden_augment.py\n"]
    for name, img in images.items():
        lines.append(fmt_image(name, img))

    def case(kind, image, args, out):
        lines.append(f"case {kind} {image} {' '.join(str(a) for a in args)} ;\n")
        lines.append(fmt_out(out))

    def f01(name):
        return images[name].to(torch.float32) / 255.0

    # random resized crop with fixed boxes (top, left, h, w), back to full size
    for name, boxes in (("rgb", [(0, 0, 10, 12), (2, 3, 5, 6), (1, 0, 9, 4), (4, 7, 3, 5), (0, 5, 10, 7)]),
                        ("gray", [(0, 0, 9, 11), (3, 2, 4, 8), (1, 1, 2, 2)])):
        _, h, w = images[name].shape
        for top, left, ch, cw in boxes:
            out = F.resized_crop(f01(name), top, left, ch, cw, [h, w],
                                 interpolation=InterpolationMode.BILINEAR, antialias=True)
            case("resized_crop", name, [top, left, ch, cw], out)

    # the dataset resize, shrinking (antialiased) and growing
    for oh, ow in ((7, 9), (5, 4), (31, 40), (20, 11)):
        out = F.resize(images["big"].to(torch.float32), [oh, ow],
                       interpolation=InterpolationMode.BILINEAR, antialias=True)
        case("resize", "big", [oh, ow], out)

    for f in (0.6, 1.3):
        case("brightness", "rgb", [f], F.adjust_brightness(f01("rgb"), f))
    for f in (0.6, 1.4):
        case("contrast", "rgb", [f], F.adjust_contrast(f01("rgb"), f))
        case("contrast", "gray", [f], F.adjust_contrast(f01("gray"), f))
    for f in (0.0, 0.6, 1.4):
        case("saturation", "sat", [f], F.adjust_saturation(f01("sat"), f))
    for f in (-0.1, 0.07, 0.5, -0.5, 0.25):
        case("hue", "sat", [f], F.adjust_hue(f01("sat"), f))
    case("grayscale", "rgb", [], F.rgb_to_grayscale(f01("rgb"), num_output_channels=3))
    case("hflip", "rgb", [], F.hflip(f01("rgb")))
    for k, sigma in ((3, 0.7), (5, 1.5), (3, 0.1)):
        case("gaussian_blur", "rgb", [k, sigma], F.gaussian_blur(f01("rgb"), [k, k], [sigma, sigma]))

    # RandAugment / AutoAugment operations
    nearest = InterpolationMode.NEAREST
    float_ops = [("Brightness", 0.5), ("Brightness", -0.7), ("Color", 0.6), ("Color", -0.4),
                 ("Contrast", 0.8), ("Contrast", -0.5), ("Sharpness", 0.9), ("Sharpness", -0.6)]
    for op, mag in float_ops:
        case("op", "rgb", [op, mag], _apply_op(f01("rgb"), op, mag, nearest, None))
    case("op", "gray", ["Sharpness", 0.9], _apply_op(f01("gray"), "Sharpness", 0.9, nearest, None))
    u8_ops = [("ShearX", 0.2), ("ShearX", -0.3), ("ShearY", 0.25), ("ShearY", -0.1),
              ("TranslateX", 4.5), ("TranslateX", -3.2), ("TranslateY", 2.7), ("TranslateY", -4.9),
              ("Rotate", 20.0), ("Rotate", -30.0), ("Rotate", 9.0),
              ("Posterize", 4), ("Posterize", 7), ("Solarize", 128.0), ("Solarize", 170.0),
              ("Solarize", 0.0), ("AutoContrast", 0.0), ("Equalize", 0.0), ("Invert", 0.0)]
    for name in ("rgb", "gray"):
        for op, mag in u8_ops:
            out = _apply_op(images[name], op, mag, nearest, None)
            case("op", name, [op, mag], out.to(torch.float32) / 255.0)

    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        f.writelines(lines)
    print(f"wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
