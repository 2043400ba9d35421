#!/usr/bin/env python3
"""PyTorch reference for `pipeline bench`: the same network, shapes and steps.

Measures, in images per second (batch / mean seconds per step, after one
warm-up step):

- ann_train_step: VGG16 forward, cross-entropy, backward, SGD (momentum 0.9,
  weight decay 5e-4);
- snn_inference_time_loop: the converted SNN one timestep at a time through
  every layer (the authors' code);
- snn_inference: the layer-major form `pipeline bench` runs (each layer's conv
  on a whole time chunk at once, then the LIF recurrence over the chunk);
- stbp_train_step: the layer-major SNN forward with autograd through the LIF
  (triangle surrogate, detached reset), the PrivateSNN Eq. 6 loss on u_T
  (m = 0.7, tau = 20, random soft targets and teacher logits), backward, Adam
  (epsilon 1e-8).

The network is `pipeline bench`'s: VGG16 (`--width` multiplier, rounded as in
Rust), bias-free 3x3 convs, 2x2 average pools, dropout after convs not
followed by a pool (`--dropout CONV FC`), fc1 (4096) and fc2, signed Poisson
input, IF neurons with soft reset, thresholds from layer-wise max-activation
normalisation of the ANN on the bench input (threshold_l = lambda_l /
lambda_{l-1}, lambda_l the largest ReLU activation of layer l): with
thresholds 1.0 the random network's deep layers never spike and the STBP
gradient is zero everywhere.

With `--rust-bin target/release/pipeline` the script also runs
`pipeline bench` with the same options on the same machine, in the same
sitting, and prints both sides and the ratio (Rust / PyTorch; > 1 = Rust
faster). `--rounds R` runs both sides R times, in alternating order, and prints the
medians and the range of the per-round ratios (on a shared machine the speed
drifts between runs). Writes JSON with `--json`.

    python3 bench/torch_reference.py --width 0.125 --channels 1 --batch 8 \
        --timesteps 10 --threads 2 --rust-bin target/release/pipeline
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

VGG16 = [64, 64, "A", 128, 128, "A", 256, 256, 256, "A", 512, 512, 512, "A", 512, 512, 512, "A"]


class Vgg(nn.Module):
    def __init__(self, channels, size, classes, width, hidden, conv_dropout, fc_dropout):
        super().__init__()
        self.convs = nn.ModuleList()
        self.pool_after = []
        c = channels
        side = size
        for item in VGG16:
            if item == "A":
                self.pool_after[-1] = True
                side //= 2
                continue
            out = max(1, int(math.floor(item * width + 0.5)))
            conv = nn.Conv2d(c, out, 3, padding=1, bias=False)
            nn.init.kaiming_normal_(conv.weight)
            self.convs.append(conv)
            self.pool_after.append(False)
            c = out
        self.fc1 = nn.Linear(c * side * side, hidden, bias=False)
        self.fc2 = nn.Linear(hidden, classes, bias=False)
        self.conv_dropout = conv_dropout
        self.fc_dropout = fc_dropout
        self.thresholds = [1.0] * (len(self.convs) + 1)

    @torch.no_grad()
    def max_norm_thresholds(self, x):
        """Layer-wise max-activation normalisation of the ANN on `x`: the
        threshold of spiking layer l is lambda_l / lambda_{l-1}, lambda_l the
        largest ReLU activation of layer l (lambda_{-1} = 1), so every layer
        spikes at rates a_l / lambda_l (a converted network's regime, not a
        random network's dead deep layers and zero gradient)."""
        maxima = []
        for conv, pool in zip(self.convs, self.pool_after):
            x = F.relu(conv(x))
            maxima.append(x.max().item())
            if pool:
                x = F.avg_pool2d(x, 2)
        maxima.append(F.relu(self.fc1(x.flatten(1))).max().item())
        prev = [1.0] + maxima[:-1]
        self.thresholds = [m / p for m, p in zip(maxima, prev)]
        return self.thresholds

    def forward(self, x):
        for conv, pool in zip(self.convs, self.pool_after):
            x = F.relu(conv(x))
            x = F.avg_pool2d(x, 2) if pool else F.dropout(x, self.conv_dropout, self.training)
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), self.fc_dropout, self.training)
        return self.fc2(x)


class Spike(torch.autograd.Function):
    """Heaviside forward, triangle surrogate max(0, 1 - |x|) backward (x = u/th - 1)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x > 0).float()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * torch.clamp(1.0 - x.abs(), min=0.0)


def lif_scan(current, mem, th=1.0):
    """IF neurons over a chunk `[Tc, N, ...]`, soft reset (detached)."""
    out = []
    for t in range(current.shape[0]):
        mem = current[t] if mem is None else mem + current[t]
        s = Spike.apply(mem / th - 1.0)
        mem = mem - s.detach() * th
        out.append(s)
    return torch.stack(out), mem


def poisson(x, steps):
    r = torch.rand((steps,) + tuple(x.shape), device=x.device)
    return (r <= x.abs()).float() * torch.sign(x)


def dropout_masks(net, n, x, training):
    """One mask per site, drawn once per forward and kept over time."""
    if not training:
        return [None] * len(net.convs), None
    masks = []
    side = x.shape[-1]
    for conv, pool in zip(net.convs, net.pool_after):
        if pool or net.conv_dropout == 0:
            masks.append(None)
        else:
            keep = 1.0 - net.conv_dropout
            m = (torch.rand((n, conv.out_channels, side, side), device=x.device) < keep).float() / keep
            masks.append(m)
        if pool:
            side //= 2
    fc = None
    if net.fc_dropout > 0:
        keep = 1.0 - net.fc_dropout
        fc = (torch.rand((n, net.fc1.out_features), device=x.device) < keep).float() / keep
    return masks, fc


def snn_layer_major(net, x, timesteps, chunk, training=False):
    """Returns u_T `[N, classes]`: each layer's conv on a whole chunk, then the LIF scan."""
    n = x.shape[0]
    masks, fc_mask = dropout_masks(net, n, x, training)
    mems = [None] * (len(net.convs) + 1)
    acc = None
    start = 0
    while start < timesteps:
        tc = min(chunk, timesteps - start)
        start += tc
        s = poisson(x, tc).flatten(0, 1)
        for i, (conv, pool) in enumerate(zip(net.convs, net.pool_after)):
            cur = conv(s)
            spikes, mems[i] = lif_scan(cur.view(tc, n, *cur.shape[1:]), mems[i], net.thresholds[i])
            s = spikes.flatten(0, 1)
            if pool:
                s = F.avg_pool2d(s, 2)
            elif masks[i] is not None:
                s = (spikes * masks[i]).flatten(0, 1)
        cur = net.fc1(s.view(tc, n, -1))
        spikes, mems[-1] = lif_scan(cur, mems[-1], net.thresholds[-1])
        if fc_mask is not None:
            spikes = spikes * fc_mask
        summed = spikes.sum(0)
        acc = summed if acc is None else acc + summed
    return net.fc2(acc)


def snn_time_loop(net, x, timesteps):
    """The authors' form: one timestep at a time through every layer."""
    n = x.shape[0]
    mems = [None] * (len(net.convs) + 1)
    out = 0
    for _ in range(timesteps):
        s = poisson(x, 1)[0]
        for i, (conv, pool) in enumerate(zip(net.convs, net.pool_after)):
            spikes, mems[i] = lif_scan(conv(s).unsqueeze(0), mems[i], net.thresholds[i])
            s = spikes[0]
            if pool:
                s = F.avg_pool2d(s, 2)
        spikes, mems[-1] = lif_scan(net.fc1(s.view(n, -1)).unsqueeze(0), mems[-1], net.thresholds[-1])
        out = out + net.fc2(spikes[0])
    return out


def encryption_loss(u, soft, teacher, m=0.7, tau=20.0):
    ce = -(soft * F.log_softmax(u, dim=1)).sum(1).mean()
    kd = F.kl_div(F.log_softmax(u / tau, dim=1), F.softmax(teacher / tau, dim=1), reduction="batchmean")
    return (1 - m) * ce + m * kd * tau * tau


def timed(iters, step, sync):
    step()
    sync()
    start = time.perf_counter()
    for _ in range(iters):
        step()
    sync()
    return (time.perf_counter() - start) / iters


def run_torch(a, device):
    torch.manual_seed(0)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    shape = (a.batch, a.channels, a.size, a.size)
    labels = torch.arange(a.batch, device=device) % 10
    x = torch.rand(shape, device=device) * 2 - 1
    make = lambda: Vgg(a.channels, a.size, 10, a.width, 4096, a.dropout[0], a.dropout[1]).to(device)
    results = {}
    if "ann" in a.only:
        net = make().train()
        sgd = torch.optim.SGD(net.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)

        def ann_step():
            sgd.zero_grad(set_to_none=True)
            loss = F.cross_entropy(net(x), labels)
            loss.backward()
            sgd.step()

        results["ann_train_step"] = timed(a.iters, ann_step, sync)
    if "snn" in a.only:
        net = make().eval()
        net.max_norm_thresholds(x)
        with torch.no_grad():
            results["snn_inference_time_loop"] = timed(a.iters, lambda: snn_time_loop(net, x, a.timesteps), sync)
            results["snn_inference"] = timed(
                a.iters, lambda: snn_layer_major(net, x, a.timesteps, a.time_chunk), sync
            )
    if "stbp" in a.only:
        net = make().train()
        net.max_norm_thresholds(x)
        adam = torch.optim.Adam(net.parameters(), lr=1e-4, eps=1e-8)
        soft = torch.rand((a.batch, 10), device=device)
        soft = soft / soft.sum(1, keepdim=True)
        teacher = torch.randn((a.batch, 10), device=device) * 3

        def stbp_step():
            adam.zero_grad(set_to_none=True)
            u = snn_layer_major(net, x, a.timesteps, a.time_chunk, training=True)
            encryption_loss(u, soft, teacher).backward()
            adam.step()

        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        results["stbp_train_step"] = timed(a.iters, stbp_step, sync)
        if device.type == "cuda":
            results["stbp_peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2**20
    return results


def run_rust(a):
    with tempfile.TemporaryDirectory() as out:
        cmd = [a.rust_bin, "bench", "--device", a.rust_device, "--out", out,
               "--width", str(a.width), "--channels", str(a.channels), "--size", str(a.size),
               "--batch", str(a.batch), "--timesteps", str(a.timesteps),
               "--time-chunk", str(a.time_chunk), "--iters", str(a.iters),
               "--dropout", str(a.dropout[0]), str(a.dropout[1])]
        for part in a.only:
            cmd += ["--only", part]
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        with open(os.path.join(out, "bench.json")) as f:
            return {m["name"]: m["seconds_per_step"] for m in json.load(f)["measurements"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--timesteps", type=int, default=10)
    p.add_argument("--time-chunk", type=int, default=10)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--dropout", type=float, nargs=2, default=[0.2, 0.5], metavar=("CONV", "FC"))
    p.add_argument("--only", action="append", choices=["ann", "snn", "stbp"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = PyTorch's default)")
    p.add_argument("--rust-bin", help="also run this `pipeline` binary's bench and print ratios")
    p.add_argument("--rust-device", default="flex", help="`pipeline bench --device` (flex, ndarray, wgpu)")
    p.add_argument("--json", help="write the figures here")
    p.add_argument("--rounds", type=int, default=1,
                   help="alternate PyTorch and Rust this many times; print medians and the ratio range "
                        "(a shared machine's speed drifts between runs)")
    a = p.parse_args()
    if a.rounds < 1 or a.iters < 1:
        p.error("--rounds and --iters must be at least 1")
    a.only = a.only or ["ann", "snn", "stbp"]
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    rounds = []
    for r in range(a.rounds):
        if a.rounds > 1:
            print(f"round {r + 1} of {a.rounds}", flush=True)
        # Odd rounds run Rust first, so that neither side always follows the other.
        if r % 2 == 1 and a.rust_bin:
            rust_s = run_rust(a)
            torch_s = run_torch(a, device)
        else:
            torch_s = run_torch(a, device)
            rust_s = run_rust(a) if a.rust_bin else {}
        rounds.append((torch_s, rust_s))
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"\nPyTorch {torch.__version__} on {where}; batch {a.batch}, T {a.timesteps}, chunk {a.time_chunk}")
    if a.rounds > 1:
        print(f"{a.rounds} rounds (PyTorch first in even rounds, Rust first in odd ones): medians, and the range of the per-round ratios")
    print(f"{'step':<28} {'PyTorch img/s':>14} {'Rust img/s':>12} {'Rust/PyTorch':>13} {'range':>14}")
    rows = []
    extra = {}
    for name in rounds[0][0]:
        if name.endswith("_mib"):
            extra[name] = max(t[name] for t, _ in rounds)
            print(f"{name:<28} {extra[name]:>14.0f}")
            continue
        torch_img = [a.batch / t[name] for t, _ in rounds]
        rust_img = [a.batch / r[name] for _, r in rounds if name in r]
        ratios = [(a.batch / r[name]) / (a.batch / t[name]) for t, r in rounds if name in r]
        row = {"step": name, "torch_img_s": statistics.median(torch_img),
               "rust_img_s": statistics.median(rust_img) if rust_img else None,
               "ratio": statistics.median(ratios) if ratios else None,
               "ratio_min": min(ratios) if ratios else None, "ratio_max": max(ratios) if ratios else None,
               "rounds": {"torch_img_s": torch_img, "rust_img_s": rust_img}}
        rows.append(row)
        rust_col = f"{row['rust_img_s']:>12.2f}" if rust_img else f"{'-':>12}"
        ratio_col = f"{row['ratio']:>12.2f}x" if ratios else f"{'-':>13}"
        range_col = f"{row['ratio_min']:>6.2f}-{row['ratio_max']:.2f}x" if len(ratios) > 1 else ""
        print(f"{name:<28} {row['torch_img_s']:>14.2f} {rust_col} {ratio_col} {range_col:>14}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"args": vars(a), "torch": torch.__version__, "device": where, "rows": rows,
                       "extra": extra}, f, indent=1)


if __name__ == "__main__":
    main()
