"""Offset-network speed on CPU: parameters, MACs per pixel, inference and training throughput.

    python benchmarks/bench_nn_speed.py                  # all networks, 2 threads (~5-10 min with compile)
    python benchmarks/bench_nn_speed.py --no-compile     # skip torch.compile (~2 min)
    python benchmarks/bench_nn_speed.py --models ccressiamnet unet --repeats 3

For each network at its default size:

- ``params``: parameters; ``MAC/px``: multiply-accumulates per pixel (convolutions, linear layers,
  correlation) from `sarflow.nn.conv_flops_per_pixel`;
- inference megapixels per second (output pixels), 256 x 256 pairs, batch 4, evaluation mode, no
  autograd: ``fp32`` eager; ``bf16+CL``: bfloat16 autocast with channels-last model and inputs;
  ``+compile``: the same through ``torch.compile`` (failure reported, not fatal);
- ``train s/step``: one AdamW step (forward, masked Huber + Gaussian NLL, backward, update) at
  256 x 256, batch 8, bfloat16 autocast, channels-last.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # no compile workers competing for the cores

import torch  # noqa: E402

from sarflow.nn import MODELS, build_model, conv_flops_per_pixel, gaussian_nll_loss, masked_huber_loss  # noqa: E402


def best_time(fn, repeats: int, warmup: int = 1) -> float:
    """Fastest of ``repeats`` calls after ``warmup`` calls (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def make_pair(batch: int, size: int, channels_last: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    pair = [torch.randn(batch, 1, size, size, generator=generator) for _ in range(2)]
    if channels_last:
        pair = [t.contiguous(memory_format=torch.channels_last) for t in pair]
    return pair[0], pair[1]


def run_bf16(model, ref, sec):
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        return model(ref, sec)


def eager_rates(name: str, size: int, batch: int, repeats: int) -> tuple[float, float]:
    """Megapixels/s for fp32 eager and for bf16 autocast + channels-last."""
    megapixels = batch * size * size / 1e6
    net = build_model(name).eval()
    ref, sec = make_pair(batch, size)
    with torch.inference_mode():
        fp32 = megapixels / best_time(lambda: net(ref, sec), repeats)
    net = net.to(memory_format=torch.channels_last)
    ref, sec = make_pair(batch, size, channels_last=True)
    bf16 = megapixels / best_time(lambda: run_bf16(net, ref, sec), repeats)
    return fp32, bf16


def compiled_rate(name: str, size: int, batch: int, repeats: int) -> str:
    """Megapixels/s of bf16 autocast + channels-last through ``torch.compile``, or why it failed."""
    megapixels = batch * size * size / 1e6
    net = build_model(name).eval().to(memory_format=torch.channels_last)
    ref, sec = make_pair(batch, size, channels_last=True)
    try:
        fast = torch.compile(net)
        run_bf16(fast, ref, sec)  # compile outside the timing
        return f"{megapixels / best_time(lambda: run_bf16(fast, ref, sec), repeats):.2f}"
    except Exception as exc:  # report, keep going
        return f"failed: {type(exc).__name__}"


def train_step_time(name: str, size: int, batch: int, repeats: int) -> float:
    """Seconds per AdamW step with bf16 autocast and channels-last."""
    generator = torch.Generator().manual_seed(0)
    ref = torch.randn(batch, 1, size, size, generator=generator).contiguous(memory_format=torch.channels_last)
    sec = torch.randn(batch, 1, size, size, generator=generator).contiguous(memory_format=torch.channels_last)
    target = torch.randn(batch, 2, size, size, generator=generator)
    mask = torch.ones(batch, 1, size, size, dtype=torch.bool)
    net = build_model(name).train().to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = net(ref, sec)
        loss = masked_huber_loss(out.offsets, target, mask) + gaussian_nll_loss(out.offsets, out.log_var, target, mask)
        loss.backward()
        optimizer.step()

    return best_time(step, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.size} x {args.size}; "
          f"inference batch 4 (megapixels/s), training batch 8 (s/step)")
    header = (f"{'network':<14}{'params':>10}{'MAC/px':>9}{'fp32':>8}{'bf16+CL':>9}{'+compile':>14}{'bf16/fp32':>11}"
              f"{'train s/step':>14}")
    rows = {}
    for name in args.models:  # eager first: compilation leaves worker processes and caches behind
        net = build_model(name)
        params = sum(p.numel() for p in net.parameters())
        macs = conv_flops_per_pixel(net, 256, 256)
        fp32, bf16 = eager_rates(name, args.size, 4, args.repeats)
        train = train_step_time(name, args.size, 8, max(2, args.repeats // 2))
        rows[name] = [params, macs, fp32, bf16, "skipped", train]
    if args.compile:
        for name in args.models:
            rows[name][4] = compiled_rate(name, args.size, 4, args.repeats)
    print(header)
    print("-" * len(header))
    for name, (params, macs, fp32, bf16, compiled, train) in rows.items():
        print(f"{name:<14}{params / 1e6:>9.2f}M{macs / 1e3:>8.1f}k{fp32:>8.2f}{bf16:>9.2f}{compiled:>14}"
              f"{bf16 / fp32:>10.1f}x{train:>14.2f}")

if __name__ == "__main__":
    main()
