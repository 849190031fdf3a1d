"""Time the synthetic data generator (images per second, wall clock).

Example (the figure in docs/synthetic_data.md)::

    python tools/analysis_tools/benchmark_synthesis.py --num 1000 --img-size 640 --workers 2

Generates ``--num`` training images (no test split) into a temporary folder that is deleted
afterwards, and prints the wall time with the machine it ran on. Other processes on a shared
machine slow the wall time down, so the load average before the run and the CPU time spent on
the images (summed over the workers; contention hardly changes it) are printed too. That CPU time
divided by the workers, plus the few seconds that starting the workers takes, is the wall time
on an otherwise idle machine.
"""
import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (or the platform's processor string)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark the synthetic data generator.')
    parser.add_argument('--num', type=int, default=1000, help='images to generate')
    parser.add_argument('--img-size', type=int, default=640, help='long side (px)')
    parser.add_argument('--workers', type=int, default=None,
                        help='processes (default: all cores, at most 8)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out-json', default=None, help='also write the result here')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmdld.datasets.synthesis import generate_dataset

    workers = args.workers if args.workers is not None else min(os.cpu_count() or 1, 8)
    load_before = os.getloadavg()[0] if hasattr(os, 'getloadavg') else float('nan')
    tmp = tempfile.mkdtemp(prefix='mmdld-synth-bench-')
    try:
        start = time.perf_counter()
        summary = generate_dataset(tmp, num_train=args.num, num_test=0, img_size=args.img_size,
                                   seed=args.seed, workers=workers)
        seconds = time.perf_counter() - start
        cpu = summary['cpu_seconds']
        size_mb = sum(
            os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(tmp) for n in ns) / 1e6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = dict(
        images=args.num, img_size=args.img_size, workers=workers, seconds=round(seconds, 2),
        images_per_second=round(args.num / seconds, 2), cpu_seconds=round(cpu, 1),
        idle_machine_seconds=round(cpu / max(workers, 1), 1),
        instances=summary['num_instances'],
        megabytes=round(size_mb, 1), cpu=cpu_name(), cores=os.cpu_count(),
        load_average_before=round(load_before, 2), python=platform.python_version())
    print(f"{args.num} images of {args.img_size} px, {workers} workers: {seconds:.1f} s "
          f"({result['images_per_second']:.1f} images/s, {summary['num_instances']} "
          f"instances, {size_mb:.0f} MB) on {result['cores']} x {result['cpu']} "
          f"(load average before: {load_before:.2f}); CPU time {cpu:.1f} s, i.e. "
          f"{result['idle_machine_seconds']:.1f} s on {workers} idle cores")
    if args.out_json:
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
