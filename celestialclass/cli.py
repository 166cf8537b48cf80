"""The ``celestialclass`` command line: a thin front for the package, no logic of its own.

Heavy modules are imported inside each subcommand, so ``celestialclass --help``
starts fast.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from .utils.jsonio import dumps
import tempfile

__all__ = ["main"]


def _format_info_text(info: dict) -> str:
    lines = [info["file"]]
    status = "yes" if info["supported"] else f"no: {info['reason']}"
    lines.append(f"  supported:  {status}")
    for key in ("instrument", "filter", "exptime", "target"):
        value = info[key]
        if key == "exptime" and value is not None:
            value = f"{value:g} s"
        lines.append(f"  {key + ':':11} {value if value is not None else '-'}")
    for chip in info["chips"]:
        raw = "x".join(str(n) for n in chip["raw_shape"])
        science = "x".join(str(n) for n in chip["science_shape"])
        lcid = "x".join(str(n) for n in chip["lcid_shape"])
        lines.append(
            f"  HDU {chip['hdu']}: {chip['name']} (CCDCHIP={chip['ccdchip']}, amps {chip['amplifiers']})"
            f"  raw {raw} -> science {science}, lcid {lcid}"
        )
    return "\n".join(lines)


def _temporary_dir() -> pathlib.Path:
    """A temporary directory, removed when the command exits."""
    import atexit
    import shutil

    path = tempfile.mkdtemp(prefix="celestialclass-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return pathlib.Path(path)


def _cmd_info(args: argparse.Namespace) -> int:
    from .io import describe_raw

    paths = list(args.files)
    if args.example:
        from .simulate import write_example_raw

        paths.append(str(write_example_raw(_temporary_dir() / "jexampl0q_raw.fits", args.instrument)))
    if not paths:
        print("celestialclass info: give one or more raw files, or --example", file=sys.stderr)
        return 2
    infos = [describe_raw(path) for path in paths]
    if args.format == "json":
        print(dumps(infos, indent=2))
    else:
        print("\n".join(_format_info_text(info) for info in infos))
    return 0 if all(info["supported"] for info in infos) else 1


def _cmd_summary(args: argparse.Namespace) -> int:
    if args.paper:
        from .evaluation.tables import reproduce_table3

        table = reproduce_table3(batch_size=args.batch_size)
        print(f"Table 3 of Zhang et al. (2024), batch size {args.batch_size}: paper_* as published, "
              "ours_* computed by celestialclass")
        print("\n".join(table.pformat(max_lines=-1, max_width=-1)))
        return 0 if table["agree"].all() else 1
    if args.model is None:
        print("celestialclass summary: give --model NAME or --paper", file=sys.stderr)
        return 2
    from .models import summary

    input_size = None
    if args.input_size is not None:
        input_size = (args.channels, *args.input_size)
    print(summary(args.model, input_size, batch_size=args.batch_size))
    return 0


def _cmd_simulate_dataset(args: argparse.Namespace) -> int:
    from .simulate import HYBRID_MANIFEST_NAME, MANIFEST_NAME, simulate_dataset

    bank = None
    if args.bank:
        from .datasets import load_bank

        bank = load_bank(args.bank)
    blurry = 1.0 if args.preset == "blurry" else args.blurry_fraction
    table = simulate_dataset(args.out_dir, args.bodies, args.exposures_per_body, seed=args.seed,
                             blurry_fraction=blurry, instruments=args.instrument or ("ACS/WFC", "WFC3/UVIS"),
                             bank=bank, jobs=args.jobs)
    exposures = len(set(table["OBSID"]))
    name = HYBRID_MANIFEST_NAME if bank is not None else MANIFEST_NAME
    print(f"{args.out_dir}: {exposures} exposures, {len(table)} chips of {len(set(table['ID']))} "
          f"{'objects' if bank is not None else 'bodies'}; manifest: {args.out_dir}/{name}")
    return 0


def _cmd_bank_build(args: argparse.Namespace) -> int:
    from collections import Counter

    from astropy.table import Table

    from .datasets import LEFT_OUT_NAME, build_bank

    bank = build_bank(args.source, args.out_dir)
    left_out = Table.read(pathlib.Path(args.out_dir) / LEFT_OUT_NAME, format="ascii.ecsv")
    classes = Counter(str(label) for label in bank["label"])
    reasons = Counter(str(reason).split(":")[0] for reason in left_out["reason"])
    print(f"{args.out_dir}: {len(bank)} images of {len(set(bank['object']))} objects "
          f"({classes['galaxy']} galaxy, {classes['nsc']} nebula/star cluster); {len(left_out)} left out:")
    for reason, count in reasons.most_common():
        print(f"  {count:4d}  {reason}")
    return 0


def _cmd_simulate_exposure(args: argparse.Namespace) -> int:
    from .simulate import simulate_exposure

    truth = simulate_exposure(args.path, args.kind, args.instrument, seed=args.seed, filter=args.filter,
                              exptime=args.exptime, subtype=args.subtype, blurry=args.blurry,
                              overwrite=args.overwrite)
    print(dumps(truth, indent=2))
    return 0


def _cmd_simulate_gallery(args: argparse.Namespace) -> int:
    from .simulate.gallery import make_gallery

    for path in make_gallery(args.out_dir, args.instrument, seed=args.seed):
        print(path)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    import shlex

    from .training import train

    from .datasets import stack_manifests

    result = train(args.model, stack_manifests(args.manifest), args.data_dir, args.out, recipe=args.recipe,
                   seed=args.seed,
                   device=args.device, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   accumulation=args.accumulation, max_steps=args.max_steps,
                   checkpoint_every=args.checkpoint_every, resume=args.resume, num_workers=args.workers,
                   on_error="skip" if args.skip_bad_files else "raise", validation=args.validation,
                   command=shlex.join(["celestialclass", *args.argv]), init_weights=args.init_weights)
    if "weights" in result:
        state = "complete" if result["complete"] else "stopped early (resume with --resume)"
        print(f"{result['steps']} steps, {state}; weights {result['weights']} (sha256 {result['sha256']}); "
              f"card {result['card']}")
    return 0


def _cmd_default_model(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from .cards import EVALUATION_SETS
    from .training.default import DefaultBuild, build_default_model

    given = {"seed": args.seed, "bodies": args.bodies, "blurry_bodies": args.blurry_bodies, "bank": args.bank,
             "bank_exposures": args.bank_exposures}
    build = replace(DefaultBuild(), **{k: v for k, v in given.items() if v is not None})
    card = build_default_model(args.out_dir, build, jobs=args.jobs)
    held, baseline = card["metrics"]["held_out"], card["baseline"]
    print(f"default model: {EVALUATION_SETS['held_out']} {100 * held['accuracy']:.2f}% on {held['n']} simulated chips; "
          f"{baseline['architecture']} on LCID-Resize {100 * baseline['metrics']['held_out']['accuracy']:.2f}%")
    if "held_out_real" in card["metrics"]:
        real = card["metrics"]["held_out_real"]
        print(f"{EVALUATION_SETS['held_out_real']} (hybrid exposures of real images): {100 * real['accuracy']:.2f}% on "
              f"{real['n']} chips; {baseline['architecture']} "
              f"{100 * baseline['metrics']['held_out_real']['accuracy']:.2f}%")
    return 0


def _range(interval) -> str:
    return f" (95% {interval[0]:.3f}-{interval[1]:.3f})" if interval else ""


def _floor_text(floor: dict | None) -> str:
    if not floor:
        return ""
    return (f" (a perfectly calibrated model with these confidences: {floor['median']:.3f}, 95% "
            f"{floor['interval'][0]:.3f}-{floor['interval'][1]:.3f}, on {floor['chips']} chips)")


def _trust_lines(metrics: dict) -> list[str]:
    """What an accuracy means: the shortcut baselines beside it, calibration and abstention (for `evaluate`)."""
    def pct(value, interval=None):
        text = f"{100 * value:.1f}%"
        return text + (f" ({100 * interval[0]:.1f}-{100 * interval[1]:.1f})" if interval else "")

    lines = []
    names = {"majority": "majority class", "instrument": "instrument only", "filter": "filter only"}
    baselines = metrics.get("baselines") or {}
    if baselines:
        lines.append("baselines on the same chips (rules fitted on them, an upper bound): " + ", ".join(
            f"{names.get(k, k)} {pct(b['accuracy'], b.get('interval'))}" for k, b in baselines.items()))
    calibration = metrics.get("calibration")
    if calibration:
        lines.append(f"calibration: expected calibration error {calibration['ece_before']:.3f} uncalibrated, "
                     f"{calibration['ece_after']:.3f}{_range(calibration.get('ece_after_interval'))} at the weights' "
                     f"temperature {calibration['temperature']:.3g}"
                     + _floor_text(calibration.get("ece_if_calibrated")))
    abstention = metrics.get("abstention")
    if abstention:
        lines.append(f"abstention at the weights' min_confidence {abstention['min_confidence']:.3f}: "
                     f"{pct(abstention['coverage'])} of chips answered, {pct(abstention['accuracy_answered'])} "
                     f"of them right ({pct(abstention['accuracy_all'])} of all)")
    return lines


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluation.report import evaluate
    from .schema import CLASS_DISPLAY

    manifest = args.manifest
    if args.shown_only:
        from .datasets import load_manifest, shows_object

        manifest = load_manifest(manifest)
        manifest = manifest[shows_object(manifest)]
    metrics = evaluate(args.weights, manifest, args.data_dir, args.out, batch_size=args.batch_size,
                       device=args.device, on_error="skip" if args.skip_bad_files else "raise",
                       plots=not args.no_plots)
    measured_on = metrics["measured_on"]
    interval = ""
    if "interval" in metrics:
        low, high = metrics["interval"]["accuracy"]
        interval = (f" (95% interval {100 * low:.1f}-{100 * high:.1f}% by bootstrap over "
                    f"{metrics['interval']['objects']} objects)")
    recall = ", ".join(f"{CLASS_DISPLAY.get(name, name)} {100 * value:.2f}%"
                       for name, value in metrics["recall"].items())
    print(f"accuracy {100 * metrics['accuracy']:.2f}%{interval}, F1 galaxy {100 * metrics['f1']['galaxy']:.2f}%, "
          f"F1 nebula/star cluster {100 * metrics['f1']['nsc']:.2f}%, recall {recall}, "
          f"ROC AUC {metrics['roc_auc']:.3f} on {metrics['n']} chips ({measured_on}); report in {args.out}")
    for line in _trust_lines(metrics):
        print(line)
    if args.paper_table:
        from astropy.table import Table

        table4 = Table.read(pathlib.Path(args.out) / "table4.ecsv")
        print("Table 4 layout (paper rows as published; the celestialclass row as measured here):")
        print("\n".join(table4.pformat(max_lines=-1, max_width=-1)))
    return 0


def _cmd_lcid_download(args: argparse.Namespace) -> int:
    from .datasets import download_lcid

    report = download_lcid(args.manifest, args.out_dir, workers=args.workers, retries=args.retries)
    print(report.summary())
    return 0 if report.ok else 1


def _cmd_lcid_split(args: argparse.Namespace) -> int:
    from .datasets import shows_object, split_by_body, stack_manifests, write_manifest

    table = stack_manifests(args.manifest)
    if args.shown_only:
        table = table[shows_object(table)]
    train, test = split_by_body(table, args.test_fraction, seed=args.seed)
    write_manifest(train, args.train)
    write_manifest(test, args.test)
    for name, part in (("train", train), ("test", test)):
        print(f"{name}: {len(part)} chips of {len(set(part['ID']))} bodies -> {getattr(args, name)}")
    return 0


def _write_results(table, output) -> None:
    from .utils.files import atomic_path

    suffix = pathlib.Path(output).suffix.lower()
    with atomic_path(output) as tmp:
        if suffix == ".json":
            import numpy as np

            rows = [{name: (None if np.ma.is_masked(row[name]) else row[name]) for name in table.colnames}
                    for row in table]
            tmp.write_text(dumps(rows, indent=2) + "\n")
        elif suffix in (".ecsv", ".csv"):
            table.write(tmp, format="ascii.ecsv" if suffix == ".ecsv" else "ascii.csv", overwrite=True)
        else:
            raise ValueError(suffix)


def _min_confidence(args: argparse.Namespace) -> float | None:
    """``--min-confidence``: a probability, or the one the weights' card suggests."""
    from .exceptions import CelestialClassError

    value = args.min_confidence
    if value is None:
        return None
    if value == "suggested":
        from .classify import _resolve_entry

        entry = _resolve_entry(args.model, args.weights, None)
        suggested = (entry.card.get("calibration") or {}).get("min_confidence")
        if suggested is None:
            raise CelestialClassError(f"--min-confidence suggested: the card of {entry.name!r} suggests none "
                                      "(it was not calibrated on validation objects); give a probability")
        return float(suggested)
    try:
        number = float(value)
    except ValueError:
        raise CelestialClassError(f"--min-confidence takes a probability or 'suggested', not {value!r}") from None
    if not 0 <= number <= 1:
        raise CelestialClassError(f"--min-confidence must be between 0 and 1, got {value}")
    return number


def _cmd_classify(args: argparse.Namespace) -> int:
    from .classify import classify_files, expand_paths, nothing_to_classify
    from .exceptions import CelestialClassError

    if args.output and pathlib.Path(args.output).suffix.lower() not in (".ecsv", ".csv", ".json"):
        raise CelestialClassError(f"--output must end in .ecsv, .csv or .json: {args.output}")
    paths = expand_paths(args.paths)
    for entry in args.paths:  # a pattern or directory that gives nothing is said, not passed over in silence
        if not expand_paths([entry]):
            print(f"celestialclass classify: {nothing_to_classify([entry])[len('no files to classify: '):]}",
                  file=sys.stderr)
    if args.example:
        from .simulate import simulate_exposure

        example = _temporary_dir() / "jexampl1q_raw.fits"
        simulate_exposure(example, "galaxy", "ACS/WFC", seed=1, subtype="spiral", filter="F606W", exptime=500.0)
        print(f"example: a simulated ACS/WFC exposure of a spiral galaxy, {example} (a temporary file, "
              f"removed when the command ends; `celestialclass simulate exposure` writes one to keep)",
              file=sys.stderr)
        paths.append(str(example))
    if not paths:
        if args.paths:
            raise CelestialClassError(nothing_to_classify(args.paths))
        raise CelestialClassError("give raw files, directories or glob patterns to classify, or --example")
    client = None
    if args.scheduler and args.scheduler != "local":
        try:
            from dask.distributed import Client

            client = Client(args.scheduler, timeout="30s")
        except ImportError:
            raise CelestialClassError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
        except (OSError, TimeoutError) as exc:
            raise CelestialClassError(f"cannot reach the Dask scheduler at {args.scheduler} ({exc})") from None
    table = classify_files(paths, client, model=args.model, weights=args.weights, hdu=args.hdu,
                           local=not args.scheduler, min_confidence=_min_confidence(args))
    table.meta["command"] = " ".join(["celestialclass", *args.argv])
    if "simulated" in str(table.meta.get("training_data", "")):
        print(f"note: the {table.meta['model']} model was trained on simulated exposures only "
              f"(celestialclass weights info {table.meta['model']})", file=sys.stderr)
    if args.output:
        _write_results(table, args.output)
        print(f"{len(table)} chips -> {args.output}", file=sys.stderr)
    else:
        shown = table.copy()
        shown["weights_sha256"] = [sha[:12] for sha in shown["weights_sha256"]]
        for name in ("prob_galaxy", "prob_nsc"):
            shown[name].format = ".4f"
        print("\n".join(shown.pformat(max_lines=-1, max_width=-1)))
    failed = [row for row in table if row["error"]]
    for row in failed:
        error = row["error"] if row["error"].startswith(row["source"]) else f"{row['source']}: {row['error']}"
        print(f"celestialclass classify: {error}", file=sys.stderr)
    return 0 if not failed else 1


def _cmd_watch(args: argparse.Namespace) -> int:
    import signal
    import threading

    from .classify import _resolve_entry
    from .realtime import watch
    from .schema import CLASS_DISPLAY

    stop = threading.Event()

    def finish(signum, _frame):  # finish the file in hand, flush, exit 0
        print(f"celestialclass watch: {signal.Signals(signum).name}: finishing the current file",
              file=sys.stderr)
        stop.set()

    previous = {sig: signal.signal(sig, finish) for sig in (signal.SIGINT, signal.SIGTERM)}
    how = f"polling every {args.poll:g} s" if args.poll is not None else "file events"
    entry = _resolve_entry(args.model, args.weights, None)
    if not args.once:
        print(f"celestialclass watch: {args.directory} ({args.pattern}, {how}); results -> "
              f"{args.output or 'standard output only'}; Ctrl-C or SIGTERM to stop", file=sys.stderr)
    count = failed = 0
    try:
        for row in watch(args.directory, pattern=args.pattern, output=args.output, hdu=args.hdu,
                         model=args.model, weights=args.weights, min_confidence=_min_confidence(args),
                         poll=args.poll, once=args.once, incomplete_timeout=args.timeout, stop=stop):
            count += 1
            if count == 1 and "simulated" in str(entry.training_data or ""):
                print(f"note: the {entry.name} model was trained on simulated exposures only "
                      f"(celestialclass weights info {entry.name})", file=sys.stderr)
            where = f"{row['source']}[{row['hdu']}]" if row["hdu"] is not None else row["source"]
            if row["error"]:  # the message names the file (and HDU) itself
                failed += 1
                error = row["error"] if row["error"].startswith(row["source"]) else f"{where}: {row['error']}"
                print(f"error: {error}", flush=True)
            else:
                name = CLASS_DISPLAY.get(row["label"], row["label"])
                p = max(row["prob_galaxy"], row["prob_nsc"])
                print(f"{where}: {name} (p={p:.3f}) in {row['latency_ms']:.0f} ms", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(f"celestialclass watch: {count} chips ({failed} with errors)", file=sys.stderr)
    return 1 if args.once and failed else 0  # a long watch ends on a signal, with 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from .classify import CelestialClassifier
    from .exceptions import CelestialClassError

    out = pathlib.Path(args.out)
    if not out.is_dir():
        raise CelestialClassError("--out is not a directory", path=out)
    if not args.no_png:
        from .utils.optional import require

        require("matplotlib", "explain's PNG maps (or --no-png)")
    classifier = CelestialClassifier(model=args.model, weights=args.weights)
    stem = pathlib.Path(args.path).name.split(".fits")[0]
    for explanation in classifier.explain(args.path, hdu=args.hdu, block=args.block):
        base = out / f"{stem}_hdu{explanation.hdu}_explain"
        written = explanation.write(base.with_suffix(".fits"), None if args.no_png else base.with_suffix(".png"),
                                    overwrite=args.overwrite)
        p = explanation.probabilities[explanation.label]
        print(f"{explanation.source}: {explanation.label} (p={p:.3f}) -> {', '.join(map(str, written))}")
    return 0


def _cmd_weights(args: argparse.Namespace) -> int:
    from .weights import file_sha256, get_weights, list_weights, resolve_weights

    if args.action == "list":
        names = list_weights()
        if not names:
            print("no weights are registered (none are bundled with this version)")
        for name in names:
            entry = get_weights(name)
            print(f"{name:24} {entry.architecture:16} sha256 {entry.sha256[:12]}  {entry.training_data}")
        return 0
    specs = args.names or list_weights()
    status = 0
    for spec in specs:
        entry = resolve_weights(spec)
        if args.action == "info" and not args.json:
            from .cards import card_summary

            print(card_summary(entry.card, name=entry.name, location=str(entry.path())
                               if not entry.location.startswith(("http://", "https://")) else entry.location))
        elif args.action == "info":
            print(dumps({"name": entry.name, "architecture": entry.architecture, "location": entry.location,
                         "sha256": entry.sha256, "preprocess": entry.preprocess.to_dict(),
                         "class_names": list(entry.class_names), "input_size": entry.input_size,
                         "training_data": entry.training_data, "command": entry.command,
                         "metrics": entry.metrics,
                         "calibration": entry.card.get("calibration"),
                         **{k: entry.card[k] for k in ("note", "simulator", "splits", "baseline")
                            if k in entry.card}}, indent=2, default=str))
        else:
            actual = file_sha256(entry.path())
            ok = actual == entry.sha256
            status |= not ok
            print(f"{entry.name}: {'OK' if ok else 'MISMATCH'} sha256 {actual}"
                  + ("" if ok else f" (expected {entry.sha256})"))
    return status


def _add_chip_options(parser: argparse.ArgumentParser) -> None:
    """``--hdu``, ``--model`` and ``--weights``: which chips, which classifier (classify, explain, watch)."""
    parser.add_argument("--hdu", type=int, help="only this HDU of each file (1 or 4)")
    parser.add_argument("--model", default="default", help="architecture, or 'default'")
    parser.add_argument("--weights", help="registered weights, a training output directory, or a URL")


def _build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="celestialclass",
        description="Galaxy or nebula/star cluster, from one raw HST ACS/WFC or WFC3/UVIS chip.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    info = sub.add_parser(
        "info", help="describe raw files: instrument, filter, chips, and whether they are supported",
        description="Describe raw *_raw.fits files without reading their pixels. Exit status 0 when "
                    "every file is supported, 1 otherwise.",
    )
    info.add_argument("files", nargs="*", metavar="FILE", help="raw exposures (*_raw.fits)")
    info.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    info.add_argument("--example", action="store_true",
                      help="also describe a built-in example exposure, written to a temporary directory")
    info.add_argument("--instrument", choices=("ACS/WFC", "WFC3/UVIS"), default="ACS/WFC",
                      help="instrument of the --example exposure (default: ACS/WFC)")
    info.set_defaults(func=_cmd_info)

    summ = sub.add_parser(
        "summary", help="size, training memory and compute of a model (the paper's Table 3 method)",
        description="Print a model's per-layer table and totals, computed without allocating "
                    "activations, or with --paper the paper's Table 3 beside the package's figures.",
    )
    summ.add_argument("--model", metavar="NAME",
                      help="registered model: alexnet, celestialnet-lite, celestialnet-lite-x2, hr-celestialnet, "
                           "resnet18, vgg16-bn")
    summ.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"),
                      help="input rows and columns (default: the model's own)")
    summ.add_argument("--channels", type=int, default=1, help="input channels (default 1)")
    summ.add_argument("--batch-size", type=int, default=4, help="batch size of the memory estimate (4)")
    summ.add_argument("--paper", action="store_true",
                      help="the paper's Table 3 rows beside the package's figures")
    summ.set_defaults(func=_cmd_summary)

    sim = sub.add_parser("simulate", help="simulate raw exposures: a mock LCID, one exposure, a gallery",
                         description="Simulate realistic raw ACS/WFC and WFC3/UVIS exposures.")
    simsub = sim.add_subparsers(dest="what", metavar="WHAT", required=True)
    ds = simsub.add_parser("dataset", help="a mock LCID: raw files of many bodies and a manifest",
                           description="Write raw files and manifest.csv (the LCID columns plus truth). "
                                       "Re-running over the same directory resumes: finished files are kept.")
    ds.add_argument("out_dir", metavar="OUT_DIR")
    ds.add_argument("--bodies", type=int, required=True, help="number of bodies (objects)")
    ds.add_argument("--exposures-per-body", type=int, required=True, help="exposures of each body")
    ds.add_argument("--seed", type=int, required=True, help="seed of the data set")
    ds.add_argument("--blurry-fraction", type=float, default=0.0, help="fraction of blurry exposures")
    ds.add_argument("--preset", choices=("blurry",), help="blurry: every exposure LCID-Blurry-like")
    ds.add_argument("--instrument", action="append", choices=("ACS/WFC", "WFC3/UVIS"),
                    help="instrument to draw from (repeat for both; default both)")
    ds.add_argument("--bank", metavar="BANK_DIR",
                    help="draw each body's morphology from a bank image (`celestialclass bank build`); "
                         "writes hybrid.csv")
    ds.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (all cores)")
    ds.set_defaults(func=_cmd_simulate_dataset)
    ex = simsub.add_parser("exposure", help="one raw exposure; prints its truth as JSON")
    ex.add_argument("path", metavar="PATH", help="the *_raw.fits file to write")
    ex.add_argument("--kind", choices=("galaxy", "nsc"), required=True,
                    help="galaxy, or nsc (nebula/star cluster)")
    ex.add_argument("--instrument", choices=("ACS/WFC", "WFC3/UVIS"), required=True, help="detector layout")
    ex.add_argument("--seed", type=int, required=True, help="random seed: the same seed writes the same file")
    ex.add_argument("--subtype", help="sub-type of the object (spiral, globular_cluster, ...); drawn if not given")
    ex.add_argument("--filter", help="filter name (F606W, F814W, ...); drawn if not given")
    ex.add_argument("--exptime", type=float, help="exposure time in seconds; drawn if not given")
    ex.add_argument("--blurry", action="store_true", help="smear the exposure as LCID-Blurry's are")
    ex.add_argument("--overwrite", action="store_true", help="replace PATH if it exists")
    ex.set_defaults(func=_cmd_simulate_exposure)
    ga = simsub.add_parser("gallery", help="PNG previews of every sub-type (needs matplotlib)")
    ga.add_argument("out_dir", metavar="OUT_DIR", help="directory that receives one PNG per sub-type")
    ga.add_argument("--instrument", choices=("ACS/WFC", "WFC3/UVIS"), default="ACS/WFC",
                    help="detector layout (default ACS/WFC)")
    ga.add_argument("--seed", type=int, default=2024, help="random seed (default 2024)")
    ga.set_defaults(func=_cmd_simulate_gallery)

    tr = sub.add_parser("train", help="train a registered model on the chips of a manifest",
                        description="Train; writes model.safetensors, model_card.json, log.csv and checkpoints. "
                                    "Launch with torchrun for DistributedDataParallel.")
    tr.add_argument("--model", required=True, help="registered model name")
    tr.add_argument("--manifest", required=True, nargs="+",
                    help="training manifest(s) (CSV, lcid-test, lcid-blurry); several are trained on together")
    tr.add_argument("--data-dir", required=True, help="directory of <OBSID>_raw.fits files")
    tr.add_argument("--out", required=True, help="output directory")
    tr.add_argument("--recipe", default="paper", help="paper (default), paper-resize, fast, ...")
    tr.add_argument("--seed", type=int, default=0, help="seeds initialisation, data order and dropout")
    tr.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    tr.add_argument("--epochs", type=int, help="override the recipe's epochs")
    tr.add_argument("--batch-size", type=int, help="override the recipe's batch size")
    tr.add_argument("--lr", type=float, help="override the recipe's learning rate")
    tr.add_argument("--accumulation", type=int, help="gradient accumulation (batches per step)")
    tr.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    tr.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints")
    tr.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    tr.add_argument("--workers", type=int, default=0, help="data-loading worker processes")
    tr.add_argument("--validation", help="manifest evaluated at the end (metrics go into the model card)")
    tr.add_argument("--skip-bad-files", action="store_true", help="leave out missing or corrupt files")
    tr.add_argument("--init-weights", metavar="WEIGHTS",
                    help="start from these weights (e.g. default, with --recipe finetune): fine-tuning")
    tr.set_defaults(func=_cmd_train)

    dm = sub.add_parser("default-model", help="build the bundled default model from nothing (simulate, train, "
                                              "compare, evaluate)",
                        description="Simulate a mock LCID and a blurry set, split by body, train the default "
                                    "model (recipe 'default') and ResNet18 on LCID-Resize with the same recipe, "
                                    "evaluate both, and write "
                                    "OUT_DIR/bundle/default.safetensors and default.json. "
                                    "Resumable: run it again to continue. The bundled card's build time says "
                                    "what it took on the machine that built it (celestialclass weights info "
                                    "default); 2-core machines differ by two to three times "
                                    "(benchmarks/bench_build.py estimates yours).")
    dm.add_argument("out_dir", metavar="OUT_DIR")
    dm.add_argument("--seed", type=int, help="seed of data, split and training (default: the bundled model's)")
    dm.add_argument("--bodies", type=int, help="bodies in the mock LCID (default: the bundled model's)")
    dm.add_argument("--blurry-bodies", type=int, help="bodies in the blurry set (default: the bundled model's)")
    dm.add_argument("--bank", metavar="BANK_DIR",
                    help="also train on hybrid exposures of a morphology bank's real images (split by object) "
                         "and report its held-out objects")
    dm.add_argument("--bank-exposures", type=int, metavar="N",
                    help="with --bank, bodies drawn from each bank image (default 1, as for the bundled "
                         "model; each hybrid exposure takes 34 MB of disk)")
    dm.add_argument("--jobs", type=int, help="simulation worker processes (all cores)")
    dm.set_defaults(func=_cmd_default_model)

    bk = sub.add_parser("bank", help="a bank of real images of galaxies and nebulae/star clusters")
    bksub = bk.add_subparsers(dest="what", metavar="WHAT", required=True)
    bb = bksub.add_parser("build", help="build a morphology bank from Stellarium's deep-sky images",
                          description="Match Stellarium's deep-sky textures to its catalogue, class them "
                                      "(galaxy / nebula-star cluster), leave out ambiguous objects and every "
                                      "image reserved for independent evaluation, and write OUT_DIR/bank.ecsv, "
                                      "OUT_DIR/left_out.ecsv and OUT_DIR/images/.")
    bb.add_argument("source", metavar="SOURCE",
                    help="Stellarium's data directory (/usr/share/stellarium after `apt install "
                         "stellarium-data`) or the package file (`apt-get download stellarium-data`)")
    bb.add_argument("out_dir", metavar="OUT_DIR")
    bb.set_defaults(func=_cmd_bank_build)

    ev = sub.add_parser("evaluate", help="evaluate trained weights on a manifest; write a report",
                        description="Write predictions, metrics (accuracy, precision, recall, F1, confusion "
                                    "matrix, ROC AUC, per instrument and filter, timing) and plots to --out.")
    ev.add_argument("--weights", required=True, help="training output directory or its model.safetensors")
    ev.add_argument("--manifest", required=True)
    ev.add_argument("--data-dir", required=True)
    ev.add_argument("--out", required=True, help="report directory")
    ev.add_argument("--batch-size", type=int, default=4)
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--paper-table", action="store_true", help="print Table 4's layout beside the paper's")
    ev.add_argument("--no-plots", action="store_true")
    ev.add_argument("--skip-bad-files", action="store_true")
    ev.add_argument("--shown-only", action="store_true",
                    help="simulated manifests: only the chips that show their object (as lcid split --shown-only)")
    ev.set_defaults(func=_cmd_evaluate)

    cl = sub.add_parser("classify", help="classify raw files: galaxy or nebula/star cluster",
                        description="Classify every chip of raw files (directories and globs expand). A file "
                                    "that cannot be read gets a row with its error; the exit status is 0 only "
                                    "when every file succeeded.")
    cl.add_argument("paths", nargs="*", metavar="PATH")
    _add_chip_options(cl)
    cl.add_argument("--output", help="write the table: .ecsv, .csv or .json")
    cl.add_argument("--scheduler", help="a dask.distributed scheduler address, or 'local' for a LocalCluster")
    cl.add_argument("--example", action="store_true", help="also classify a built-in simulated exposure")
    cl.add_argument("--min-confidence", metavar="P",
                    help="answer 'uncertain' where the largest probability is below P (0.5-1), or 'suggested': "
                         "the value the weights' card chose on validation objects to answer 90%% of them")
    cl.set_defaults(func=_cmd_classify)

    xp = sub.add_parser("explain", help="maps of what drove each chip's decision (FITS and PNG)",
                        description="For each chip of a raw file, write a map of which regions drove the "
                                    "classifier's decision (|input x gradient| summed over blocks of pixels): "
                                    "a FITS image with the chip's WCS and a PNG over an asinh preview.")
    xp.add_argument("path", metavar="FILE", help="a raw file")
    _add_chip_options(xp)
    xp.add_argument("--out", default=".", help="directory for <file>_hdu<N>_explain.fits and .png (here)")
    xp.add_argument("--block", type=int, default=16, help="pixels per map pixel side (16)")
    xp.add_argument("--no-png", action="store_true", help="write the FITS maps only")
    xp.add_argument("--overwrite", action="store_true", help="replace existing maps")
    xp.set_defaults(func=_cmd_explain)

    wa = sub.add_parser("watch", help="classify raw files as they land in a directory",
                        description="Follow DIR and classify each raw file once it is complete (its FITS "
                                    "structure whole), one line per chip; with --output, append every row to "
                                    "a results log (.jsonl, or .ecsv rewritten atomically) and, on restart, "
                                    "skip what it holds and take what landed meanwhile. SIGINT and SIGTERM "
                                    "finish the current file and exit 0.")
    wa.add_argument("directory", metavar="DIR", help="where raw files land")
    wa.add_argument("--pattern", default="*_raw.fits", help="file names to take (default: '*_raw.fits')")
    wa.add_argument("--output", help="results log: .jsonl (appended) or .ecsv; resumed if it exists")
    _add_chip_options(wa)
    wa.add_argument("--min-confidence", metavar="P", help="as for classify")
    wa.add_argument("--poll", type=float, metavar="SECONDS",
                    help="poll the directory every SECONDS instead of using file events (network filesystems)")
    wa.add_argument("--once", action="store_true",
                    help="classify the complete files there now, then exit (status 1 if any chip failed)")
    wa.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                    help="a file still incomplete this long after its last change gets an error row (60)")
    wa.set_defaults(func=_cmd_watch)

    we = sub.add_parser("weights", help="the weights registry: list, info, verify",
                        description="Show and check weights: 'list' the registered ones, 'info' prints a "
                                    "weights entry and its model card's summary (--json: the fields as "
                                    "JSON), 'verify' checks each file's sha256 against its record.")
    we.add_argument("action", choices=("list", "info", "verify"), help="what to do")
    we.add_argument("names", nargs="*", metavar="NAME", help="registered names or paths (default: all)")
    we.add_argument("--json", action="store_true", help="info: the entry and its card's fields as JSON")
    we.set_defaults(func=_cmd_weights)

    lcid = sub.add_parser("lcid", help="LCID manifests: download raw files from MAST, split by body")
    lcidsub = lcid.add_subparsers(dest="what", metavar="WHAT", required=True)
    dl = lcidsub.add_parser("download", help="fetch a manifest's raw files from MAST (needs astroquery)")
    dl.add_argument("manifest", help="lcid-test, lcid-blurry or a manifest CSV")
    dl.add_argument("out_dir", help="directory that receives the <OBSID>_raw.fits files")
    dl.add_argument("--workers", type=int, default=4, help="concurrent downloads (default 4)")
    dl.add_argument("--retries", type=int, default=2)
    dl.set_defaults(func=_cmd_lcid_download)
    sp = lcidsub.add_parser("split", help="split a manifest by body into train and test manifests",
                            description="Split by body (ID): no body on both sides. Several manifests are "
                                        "split together (e.g. a data directory's manifest.csv and hybrid.csv).")
    sp.add_argument("manifest", nargs="+")
    sp.add_argument("--test-fraction", type=float, default=0.2)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--train", required=True, help="output CSV of the training part")
    sp.add_argument("--test", required=True, help="output CSV of the test part")
    sp.add_argument("--shown-only", action="store_true",
                    help="simulated manifests: keep only chips that show their object (Coverage >= 0.01, "
                         "Visibility >= 5; see celestialclass.datasets.shows_object)")
    sp.set_defaults(func=_cmd_lcid_split)
    return parser


def _show_progress_logs() -> None:
    """Show the package's ``INFO`` log records (a line per epoch or stage) on standard error, as they happen."""
    import logging

    logger = logging.getLogger("celestialclass")
    if not any(getattr(h, "_celestialclass", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s celestialclass: %(message)s", "%Y-%m-%d %H:%M:%S"))
        handler._celestialclass = True
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .exceptions import CelestialClassError

    _show_progress_logs()
    try:
        return args.func(args)
    except CelestialClassError as exc:
        print(f"celestialclass {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader went away (``| head``): stop quietly, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
