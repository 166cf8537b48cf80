"""Classification speed on this machine: ms per chip per model, HR-CelestialNet's GFLOP/s, bf16, Dask.

Run: ``python benchmarks/bench_classify.py [--full] [--files N]``. Timing only:
the models carry random weights (their probabilities mean nothing), made
and saved by this script. Everything is measured in one run:

- preprocessing (read the raw chip, trim, bias, scale) and classification (the
  forward pass) in ms per chip for every registered model at its default input
  (``--full`` adds the baselines at full 2048 x 4096 resolution; VGG16-BN then
  takes about a minute), beside the paper's GPU figures (Table 4);
- HR-CelestialNet's forward pass in GFLOP/s (355.9 GFLOP per chip) against a
  dense fp32 matmul timed here; target >= 60 %;
- the opt-in bf16 path: largest probability difference from fp32 (target <= 0.02)
  and its speed;
- ``classify_files`` on a Dask LocalCluster: throughput of 2 single-threaded
  workers against 1; target >= 1.7x.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from celestialclass.classify import CelestialClassifier, classify_files
from celestialclass.evaluation.paper import TABLE4
from celestialclass.models import get_model, list_models, summary
from celestialclass.preprocess import Preprocess
from celestialclass.schema import LCID_RESIZE, LCID_SHAPE
from celestialclass.simulate import write_example_raw
from celestialclass.cards import write_card
from celestialclass.weights import save_weights


def make_weights(directory, name, resize):
    torch.manual_seed(0)
    model = get_model(name)
    preprocess = Preprocess(resize=resize)
    directory.mkdir(parents=True, exist_ok=True)
    sha = save_weights(model.state_dict(), directory / "model.safetensors",
                       {"architecture": name, "preprocess": preprocess.to_dict()})
    write_card(directory / "model_card.json", {
        "name": f"{name}-random", "architecture": name, "class_names": ["galaxy", "nsc"],
        "input_size": [1, *(resize or LCID_SHAPE)], "preprocess": preprocess.to_dict(),
        "weights": {"file": "model.safetensors", "sha256": sha},
        "training": {"data": "none: random weights for timing only"}, "metrics": {}})
    return directory


def median_ms(function, repeat):
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def matmul_gflops(n=2048, repeat=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = median_ms(lambda: a @ b, repeat) / 1e3
    return 2 * n ** 3 / seconds / 1e9


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also time the baselines at 2048 x 4096")
    parser.add_argument("--files", type=int, default=16, help="files for the Dask throughput test")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    paper = {(r.model, r.data_set): r for r in TABLE4}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = write_example_raw(tmp / "jbench01q_raw.fits")
        full_only = ("hr-celestialnet", "celestialnet-lite")
        configs = [(name, "LCID" if name in full_only else "LCID-Resize") for name in list_models()]
        if args.full:
            configs += [(name, "LCID") for name in list_models() if name not in full_only]
        print(f"{'model':16} {'data':12} {'preprocess ms':>13} {'classify ms':>11} {'total ms':>9}   "
              f"paper GPU (pre / classify / total ms)")
        results = {}
        for name, data in configs:
            resize = LCID_RESIZE if data == "LCID-Resize" else None
            weights = make_weights(tmp / f"{name}-{data}", name, resize)
            clf = CelestialClassifier(name, weights, device="cpu", batch_size=1)
            pre = median_ms(lambda: clf.preprocess.read_image(raw, hdu=4), args.repeat)
            x = torch.from_numpy(clf.preprocess.read_image(raw, hdu=4))[None, None]
            with torch.inference_mode():
                cls = median_ms(lambda: clf.network(x), 1 if data == "LCID" else args.repeat)
            results[name, data] = (clf, x, cls)
            ref = paper.get((name, data))
            ref_text = f"{ref.preprocessing_ms} / {ref.classification_ms} / {ref.total_ms}" if ref else "-"
            print(f"{name:16} {data:12} {pre:13.1f} {cls:11.1f} {pre + cls:9.1f}   {ref_text}")

        from astropy.io import fits

        lite = results["celestialnet-lite", "LCID"][0]
        end_to_end = median_ms(lambda: lite.predict(raw, hdu=4), args.repeat + 2)
        bare = median_ms(lambda: fits.getdata(raw, 4), 10)
        print(f"\nend to end (read, trim, preprocess, classify) with celestialnet-lite: {end_to_end:.1f} ms per chip; "
              f"bare fits.getdata {bare:.1f} ms; ratio {end_to_end / bare:.1f} (target <= 10)")

        clf, x, hr_ms = results["hr-celestialnet", "LCID"]
        flops = 2 * summary("hr-celestialnet").macs
        achieved = flops / (hr_ms / 1e3) / 1e9
        peak = matmul_gflops()
        print(f"HR-CelestialNet forward: {achieved:.1f} GFLOP/s; dense fp32 matmul: {peak:.1f} GFLOP/s; "
              f"ratio {achieved / peak:.2f} (target >= 0.60)")

        bf16 = CelestialClassifier("hr-celestialnet", tmp / "hr-celestialnet-LCID", device="cpu", dtype="bfloat16")
        fp32 = CelestialClassifier("hr-celestialnet", tmp / "hr-celestialnet-LCID", device="cpu")
        start = time.perf_counter()
        p16 = bf16.predict_proba(raw)
        t16 = time.perf_counter() - start
        start = time.perf_counter()
        p32 = fp32.predict_proba(raw)
        t32 = time.perf_counter() - start
        print(f"bf16 path: max |p_bf16 - p_fp32| = {np.abs(p16 - p32).max():.4f} (target <= 0.02); "
              f"time {t16:.1f} s vs fp32 {t32:.1f} s (ratio {t16 / t32:.2f})")

        files = [str(write_example_raw(tmp / f"jdask{i:03d}q_raw.fits", seed=i)) for i in range(args.files)]
        weights = str(tmp / "resnet18-LCID-Resize")
        throughput = {}
        for workers in (1, 2):
            from dask.distributed import Client, LocalCluster

            with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                classify_files(files[:2], client, model="resnet18", weights=weights)  # warm up: load the model
                start = time.perf_counter()
                classify_files(files, client, model="resnet18", weights=weights)
                throughput[workers] = len(files) / (time.perf_counter() - start)
        print(f"Dask classify_files (resnet18, LCID-Resize): 1 worker {throughput[1]:.2f} files/s, "
              f"2 workers {throughput[2]:.2f} files/s; ratio {throughput[2] / throughput[1]:.2f} (target >= 1.7)")


if __name__ == "__main__":
    main()
