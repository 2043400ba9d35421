"""Independent NumPy reference of pytorch-fid's Inception-V3 pool3 features,
for the known-value test in `crates/fid/tests/fid.rs`.

The network follows torchvision's `inception.py` with pytorch-fid's FID
blocks (avg pools without padding counted in A, C and E_1; max pool in E_2),
written here from those sources without Burn. Weights are deterministic
functions of each parameter's pytorch-fid name (`value`), so the Rust test
builds the same weights file; the input is a fixed 1x28x28 image resized to
75x75. Writes `inception_reference.json`: selected pool3 entries and sums.

Run: python3 inception_reference.py   (needs numpy)
"""
import json
import math
import os

import numpy as np


def name_hash(name):
    return sum(name.encode()) % 1000 / 100.0


def value(name, n):
    j = np.arange(n, dtype=np.float64)
    return np.sin(j * 0.731 + name_hash(name))


PARAMS = []  # (name, shape) in definition order, for the fixture


def conv_params(prefix, cin, cout, k):
    kh, kw = k
    w_name = prefix + ".conv.weight"
    shape = (cout, cin, kh, kw)
    fan_in = cin * kh * kw
    w = (2.0 / math.sqrt(fan_in)) * value(w_name, int(np.prod(shape)))
    bn = {}
    for field, f in [
        ("weight", lambda v: 1.0 + 0.1 * v),
        ("bias", lambda v: 0.1 * v),
        ("running_mean", lambda v: 0.1 * v),
        ("running_var", lambda v: 1.0 + 0.5 * np.abs(v)),
    ]:
        nm = prefix + ".bn." + field
        bn[field] = f(value(nm, cout)).astype(np.float32).astype(np.float64)
        PARAMS.append((nm, [cout]))
    PARAMS.append((w_name, list(shape)))
    return w.astype(np.float32).astype(np.float64).reshape(shape), bn


def conv2d(x, w, stride, pad):
    c, h, wd = x.shape
    ph, pw = pad
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw)))
    cout, cin, kh, kw = w.shape
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(1, 2))
    win = win[:, ::stride, ::stride]  # [C, Ho, Wo, kh, kw]
    return np.einsum("chwij,ocij->ohw", win, w)


class Basic:
    def __init__(self, prefix, cin, cout, k, stride=1, pad=(0, 0)):
        k = (k, k) if isinstance(k, int) else k
        self.w, self.bn = conv_params(prefix, cin, cout, k)
        self.stride, self.pad = stride, pad

    def __call__(self, x):
        y = conv2d(x, self.w, self.stride, self.pad)
        bn = self.bn
        scale = bn["weight"] / np.sqrt(bn["running_var"] + 1e-3)
        y = (y - bn["running_mean"][:, None, None]) * scale[:, None, None] + bn["bias"][:, None, None]
        return np.maximum(y, 0.0)


def max_pool(x, stride, pad):
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)), constant_values=-np.inf)
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))[:, ::stride, ::stride]
    return win.max(axis=(3, 4))


def avg_pool_no_pad_count(x):
    ones = np.ones_like(x[:1])
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    op = np.pad(ones, ((0, 0), (1, 1), (1, 1)))
    s = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2)).sum(axis=(3, 4))
    n = np.lib.stride_tricks.sliding_window_view(op, (3, 3), axis=(1, 2)).sum(axis=(3, 4))
    return s / n


def block_a(p, cin, pool):
    b1 = Basic(p + ".branch1x1", cin, 64, 1)
    b5a = Basic(p + ".branch5x5_1", cin, 48, 1)
    b5b = Basic(p + ".branch5x5_2", 48, 64, 5, pad=(2, 2))
    d1 = Basic(p + ".branch3x3dbl_1", cin, 64, 1)
    d2 = Basic(p + ".branch3x3dbl_2", 64, 96, 3, pad=(1, 1))
    d3 = Basic(p + ".branch3x3dbl_3", 96, 96, 3, pad=(1, 1))
    bp = Basic(p + ".branch_pool", cin, pool, 1)
    return lambda x: np.concatenate(
        [b1(x), b5b(b5a(x)), d3(d2(d1(x))), bp(avg_pool_no_pad_count(x))]
    )


def block_b(p, cin):
    b3 = Basic(p + ".branch3x3", cin, 384, 3, stride=2)
    d1 = Basic(p + ".branch3x3dbl_1", cin, 64, 1)
    d2 = Basic(p + ".branch3x3dbl_2", 64, 96, 3, pad=(1, 1))
    d3 = Basic(p + ".branch3x3dbl_3", 96, 96, 3, stride=2)
    return lambda x: np.concatenate([b3(x), d3(d2(d1(x))), max_pool(x, 2, 0)])


def block_c(p, cin, c7):
    row, col = ((1, 7), (0, 3)), ((7, 1), (3, 0))
    b1 = Basic(p + ".branch1x1", cin, 192, 1)
    s = [Basic(p + ".branch7x7_1", cin, c7, 1),
         Basic(p + ".branch7x7_2", c7, c7, row[0], pad=row[1]),
         Basic(p + ".branch7x7_3", c7, 192, col[0], pad=col[1])]
    d = [Basic(p + ".branch7x7dbl_1", cin, c7, 1),
         Basic(p + ".branch7x7dbl_2", c7, c7, col[0], pad=col[1]),
         Basic(p + ".branch7x7dbl_3", c7, c7, row[0], pad=row[1]),
         Basic(p + ".branch7x7dbl_4", c7, c7, col[0], pad=col[1]),
         Basic(p + ".branch7x7dbl_5", c7, 192, row[0], pad=row[1])]
    bp = Basic(p + ".branch_pool", cin, 192, 1)

    def f(x):
        y7, yd = x, x
        for layer in s:
            y7 = layer(y7)
        for layer in d:
            yd = layer(yd)
        return np.concatenate([b1(x), y7, yd, bp(avg_pool_no_pad_count(x))])
    return f


def block_d(p, cin):
    a1 = Basic(p + ".branch3x3_1", cin, 192, 1)
    a2 = Basic(p + ".branch3x3_2", 192, 320, 3, stride=2)
    s = [Basic(p + ".branch7x7x3_1", cin, 192, 1),
         Basic(p + ".branch7x7x3_2", 192, 192, (1, 7), pad=(0, 3)),
         Basic(p + ".branch7x7x3_3", 192, 192, (7, 1), pad=(3, 0)),
         Basic(p + ".branch7x7x3_4", 192, 192, 3, stride=2)]

    def f(x):
        y = x
        for layer in s:
            y = layer(y)
        return np.concatenate([a2(a1(x)), y, max_pool(x, 2, 0)])
    return f


def block_e(p, cin, max_pool_branch):
    b1 = Basic(p + ".branch1x1", cin, 320, 1)
    t1 = Basic(p + ".branch3x3_1", cin, 384, 1)
    t2a = Basic(p + ".branch3x3_2a", 384, 384, (1, 3), pad=(0, 1))
    t2b = Basic(p + ".branch3x3_2b", 384, 384, (3, 1), pad=(1, 0))
    d1 = Basic(p + ".branch3x3dbl_1", cin, 448, 1)
    d2 = Basic(p + ".branch3x3dbl_2", 448, 384, 3, pad=(1, 1))
    d3a = Basic(p + ".branch3x3dbl_3a", 384, 384, (1, 3), pad=(0, 1))
    d3b = Basic(p + ".branch3x3dbl_3b", 384, 384, (3, 1), pad=(1, 0))
    bp = Basic(p + ".branch_pool", cin, 192, 1)

    def f(x):
        t = t1(x)
        d = d2(d1(x))
        pooled = max_pool(x, 1, 1) if max_pool_branch else avg_pool_no_pad_count(x)
        return np.concatenate([b1(x), t2a(t), t2b(t), d3a(d), d3b(d), bp(pooled)])
    return f


def resize_bilinear(x, out):
    """PyTorch's upsample_bilinear2d, align_corners=False."""
    c, h, w = x.shape

    def index(n_in):
        scale = n_in / out
        src = np.maximum((np.arange(out) + 0.5) * scale - 0.5, 0.0)
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        return i0, i1, src - i0

    y0, y1, ly = index(h)
    x0, x1, lx = index(w)
    top = x[:, y0][:, :, x0] * (1 - lx) + x[:, y0][:, :, x1] * lx
    bot = x[:, y1][:, :, x0] * (1 - lx) + x[:, y1][:, :, x1] * lx
    return top * (1 - ly[:, None]) + bot * ly[:, None]


def main():
    stem = [Basic("Conv2d_1a_3x3", 3, 32, 3, stride=2),
            Basic("Conv2d_2a_3x3", 32, 32, 3),
            Basic("Conv2d_2b_3x3", 32, 64, 3, pad=(1, 1))]
    stem2 = [Basic("Conv2d_3b_1x1", 64, 80, 1), Basic("Conv2d_4a_3x3", 80, 192, 3)]
    blocks = [block_a("Mixed_5b", 192, 32), block_a("Mixed_5c", 256, 64),
              block_a("Mixed_5d", 288, 64), block_b("Mixed_6a", 288),
              block_c("Mixed_6b", 768, 128), block_c("Mixed_6c", 768, 160),
              block_c("Mixed_6d", 768, 160), block_c("Mixed_6e", 768, 192),
              block_d("Mixed_7a", 768), block_e("Mixed_7b", 1280, False),
              block_e("Mixed_7c", 2048, True)]
    j = np.arange(28 * 28, dtype=np.float64)
    pixels = (0.5 + 0.5 * np.sin(0.1 * j)).astype(np.float32).astype(np.float64).reshape(1, 28, 28)
    x = np.concatenate([pixels] * 3)
    x = resize_bilinear(x, 75) * 2.0 - 1.0
    for layer in stem:
        x = layer(x)
    x = max_pool(x, 2, 0)
    for layer in stem2:
        x = layer(x)
    x = max_pool(x, 2, 0)
    for b in blocks:
        x = b(x)
    f = x.mean(axis=(1, 2))
    assert f.shape == (2048,)
    picks = list(range(0, 2048, 97))
    out = {
        "resize": 75,
        "picks": picks,
        "values": [float(f[i]) for i in picks],
        "sum": float(f.sum()),
        "sum_sq": float((f ** 2).sum()),
        "params": PARAMS,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "inception_reference.json")
    with open(path, "w") as fh:
        json.dump(out, fh)
    print(f"pool3: sum {out['sum']:.6f}, sum_sq {out['sum_sq']:.6f}, {len(PARAMS)} parameters")


if __name__ == "__main__":
    main()
