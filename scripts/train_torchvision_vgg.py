"""Train a VGG16-bn in torchvision's layout on Fashion-MNIST with PyTorch, for
the "Bring your own model" walk-through (README) and its measurement in
docs/results.md: the state dict it writes is what `pipeline import-ann` reads.

    python3 scripts/train_torchvision_vgg.py --out runs/byo/vgg16_bn_fmnist.pt

The network is torchvision's `vgg16_bn` (built as `torchvision.models.vgg`
builds it, so the keys are the same) at 1/8 of the channels, for 1x32x32 inputs
and 10 classes, with average pools (the SNN average-pools) and a 256-wide
classifier: `configs/byo-torchvision.toml` describes it. The images are
prepared as the pipeline prepares them: 28x28 padded with zero pixels to 32x32,
then (x / 255 - 0.5) / 0.5. Prints the test accuracy on the 10,000 test images.
"""

import argparse
import gzip
import pathlib
import time

import numpy as np
import torch
import torch.nn as nn

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(nn.Module):
    """torchvision.models.VGG's modules: features, avgpool, classifier."""

    def __init__(self, width=8, hidden=256, classes=10):
        super().__init__()
        layers, c = [], 1
        for v in VGG16:
            if v == "M":
                layers.append(nn.AvgPool2d(2, 2))
                continue
            v //= width
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(True)]
            c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(c * 49, hidden), nn.ReLU(True), nn.Dropout(0.0),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.0),
            nn.Linear(hidden, classes),
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(root, split):
    prefix = "train" if split == "train" else "t10k"
    x = idx(root / f"{prefix}-images-idx3-ubyte.gz")
    y = idx(root / f"{prefix}-labels-idx1-ubyte.gz")
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))
    x = (torch.from_numpy(x).float()[:, None] / 255 - 0.5) / 0.5
    return x, torch.from_numpy(y.astype(np.int64))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", default="runs/byo/vgg16_bn_fmnist.pt")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    root = pathlib.Path(args.data)
    xtr, ytr = load(root, "train")
    xte, yte = load(root, "test")
    model = VGG()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    steps = args.epochs * (len(xtr) // 64)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=steps)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        for i in range(len(xtr) // 64):
            b = perm[i * 64:(i + 1) * 64]
            loss = nn.functional.cross_entropy(model(xtr[b]), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, {time.time() - start:.0f} s", flush=True)
    model.eval()
    with torch.no_grad():
        correct = sum((model(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum().item()
                      for i in range(0, len(xte), 500))
    print(f"PyTorch test accuracy: {100 * correct / len(xte):.2f}% on {len(xte)} images")
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
