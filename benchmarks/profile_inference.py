"""Where a network's CPU inference time goes, and what the inference rewrites gain.

    python benchmarks/profile_inference.py                 # shipped network, 4 tiles of 512 x 512, 2 threads
    python benchmarks/profile_inference.py --compile       # also torch.compile (minutes of compilation)
    python benchmarks/profile_inference.py --compile --freezing   # with inductor's freezing (weights pre-packed)

Prints, for one batch under bfloat16 autocast and channels-last (best of ``--repeats``):

- the forward pass of the network as loaded and with every convolution -> BatchNorm pair folded
  (`sarflow.nn.fuse.fold_batch_norms`, what scene inference runs), and their largest difference;
- the attention's 7 x 7 local maximum on a CC-ResSiamNet-sized feature map by two ``max_pool2d``
  and by shifted maxima (`sarflow.nn.attention.running_max`, what inference runs), and whether they
  agree exactly;
- the torch profiler's operators of the folded pass by self time, with the convolutions' share and
  their rate in GFLOP/s (from `sarflow.nn.conv_flops_per_pixel`);
- with ``--compile``: the folded network under ``torch.compile``, its compilation time and pass.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from bench_nn_speed import best_time  # this folder is on the path when a benchmark runs as a script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ccressiamnet", help="shipped name or weights path")
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the folded network")
    parser.add_argument("--freezing", action="store_true",
                        help="with --compile: inductor's freezing (weights taken as constants, convolutions pre-packed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from sarflow.models import load_model
    from sarflow.nn import conv_flops_per_pixel
    from sarflow.nn.attention import running_max
    from sarflow.nn.fuse import fold_batch_norms

    model = load_model(args.model).eval().to(memory_format=torch.channels_last)
    folded = fold_batch_norms(model).to(memory_format=torch.channels_last)
    shape = (args.batch_size, 1, args.tile, args.tile)
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0)).contiguous(memory_format=torch.channels_last)
    y = torch.roll(x, 1, dims=3)
    pixels = args.batch_size * args.tile * args.tile
    macs = conv_flops_per_pixel(model, 256, 256)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16)

    def run(net):
        with torch.inference_mode(), autocast:
            return net(x, y)

    t_plain = best_time(lambda: run(model), args.repeats)
    t_folded = best_time(lambda: run(folded), args.repeats)
    diff = float((run(model).offsets.float() - run(folded).offsets.float()).abs().max())
    print(f"{args.model}: {macs:,.0f} MAC/px; batch {shape}, {args.threads} threads, bf16, channels-last")
    print(f"forward pass as loaded      {t_plain:7.3f} s")
    print(f"BatchNorm folded            {t_folded:7.3f} s   (x{t_plain / t_folded:.2f}; largest difference "
          f"{diff:.2e} px)")

    feature = torch.randn(2 * args.batch_size, 24, args.tile // 2, args.tile // 2).to(torch.bfloat16)
    feature = feature.contiguous(memory_format=torch.channels_last)
    t_pool = best_time(lambda: F.max_pool2d(F.max_pool2d(feature, (1, 7), 1, (0, 3)), (7, 1), 1, (3, 0)),
                       args.repeats)
    t_shift = best_time(lambda: running_max(running_max(feature, 7, 3), 7, 2), args.repeats)
    same = torch.equal(F.max_pool2d(F.max_pool2d(feature, (1, 7), 1, (0, 3)), (7, 1), 1, (3, 0)),
                       running_max(running_max(feature, 7, 3), 7, 2))
    print(f"7 x 7 local max of {tuple(feature.shape)} bf16: max_pool2d {t_pool * 1e3:.1f} ms, shifted maxima "
          f"{t_shift * 1e3:.1f} ms (x{t_pool / t_shift:.1f}; identical: {same})")

    from torch.profiler import ProfilerActivity, profile

    with torch.inference_mode(), autocast, profile(activities=[ProfilerActivity.CPU]) as prof:
        folded(x, y)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if "convolution" in e.key)
    print(f"\nprofile of the folded pass: convolutions {conv / total:.0%} of the self time, "
          f"{2 * macs * pixels / (conv / 1e6) / 1e9:.0f} GFLOP/s while they run")
    for event in events[:10]:
        print(f"  {event.key:<32} {event.self_cpu_time_total / total:6.1%}  ({event.count} calls)")

    if args.compile:
        if args.freezing:
            import torch._inductor.config as inductor_config

            inductor_config.freezing = True
        compiled = torch.compile(folded)
        start = time.perf_counter()
        run(compiled)
        t_build = time.perf_counter() - start
        t_compiled = best_time(lambda: run(compiled), args.repeats)
        kind = "torch.compile (freezing)" if args.freezing else "torch.compile"
        print(f"\n{kind}: {t_build:.0f} s to compile, pass {t_compiled:.3f} s (x{t_folded / t_compiled:.2f} "
              "against the folded eager pass)")


if __name__ == "__main__":
    main()
