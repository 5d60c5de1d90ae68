"""Images per second per core of the synthetic renderer at 256x256 (goal >= 10).

Run: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/render_speed.py [n]`. One process, one thread, adults and
infants alternating, everything render_sample does (body, pose, rasterisation, shading, background, post-processing)
but no file writing.
"""
import os
os.environ.setdefault('OMP_NUM_THREADS', '1')
import sys, time
import numpy as np
from infantpose.synthetic import render_sample, load_body

def main(n: int = 40, size=(256, 256)):
    load_body()
    rng = np.random.default_rng(0)
    render_sample(rng, 'adult', size); render_sample(rng, 'infant', size)   # warm the caches
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(n): render_sample(rng, ('adult', 'infant')[i % 2], size)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"render_speed: {n} images at {size[0]}x{size[1]}: {n/wall:.1f} images/s wall, {n/cpu:.1f} images/s per core "
          f"(goal >= 10: {'ok' if n/cpu >= 10 else 'MISSED'})")

if __name__ == '__main__':
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 40)
