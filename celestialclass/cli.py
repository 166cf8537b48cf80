"""The ``celestialclass`` command line: a thin front for the package, no logic of its own.

Heavy modules are imported inside each subcommand, so ``celestialclass --help``
starts fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
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


def _cmd_info(args: argparse.Namespace) -> int:
    from .io import describe_raw

    paths = list(args.files)
    if args.example:
        from .simulate import write_example_raw

        tmpdir = tempfile.mkdtemp(prefix="celestialclass-")
        paths.append(str(write_example_raw(f"{tmpdir}/jexampl0q_raw.fits", args.instrument)))
    if not paths:
        print("celestialclass info: give one or more raw files, or --example", file=sys.stderr)
        return 2
    infos = [describe_raw(path) for path in paths]
    if args.format == "json":
        print(json.dumps(infos, indent=2))
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
    from .simulate import simulate_dataset

    blurry = 1.0 if args.preset == "blurry" else args.blurry_fraction
    table = simulate_dataset(args.out_dir, args.bodies, args.exposures_per_body, seed=args.seed,
                             blurry_fraction=blurry, instruments=args.instrument or ("ACS/WFC", "WFC3/UVIS"),
                             jobs=args.jobs)
    exposures = len(set(table["OBSID"]))
    print(f"{args.out_dir}: {exposures} exposures, {len(table)} chips of {len(set(table['ID']))} bodies; "
          f"manifest: {args.out_dir}/manifest.csv")
    return 0


def _cmd_simulate_exposure(args: argparse.Namespace) -> int:
    from .simulate import simulate_exposure

    truth = simulate_exposure(args.path, args.kind, args.instrument, seed=args.seed, filter=args.filter,
                              exptime=args.exptime, subtype=args.subtype, blurry=args.blurry,
                              overwrite=args.overwrite)
    print(json.dumps(truth, indent=2))
    return 0


def _cmd_simulate_gallery(args: argparse.Namespace) -> int:
    from .simulate.gallery import make_gallery

    for path in make_gallery(args.out_dir, args.instrument, seed=args.seed):
        print(path)
    return 0


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
                      help="registered model: alexnet, hr-celestialnet, resnet18, vgg16-bn")
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
    ds.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (all cores)")
    ds.set_defaults(func=_cmd_simulate_dataset)
    ex = simsub.add_parser("exposure", help="one raw exposure; prints its truth as JSON")
    ex.add_argument("path", metavar="PATH")
    ex.add_argument("--kind", choices=("galaxy", "nsc"), required=True)
    ex.add_argument("--instrument", choices=("ACS/WFC", "WFC3/UVIS"), required=True)
    ex.add_argument("--seed", type=int, required=True)
    ex.add_argument("--subtype")
    ex.add_argument("--filter")
    ex.add_argument("--exptime", type=float)
    ex.add_argument("--blurry", action="store_true")
    ex.add_argument("--overwrite", action="store_true")
    ex.set_defaults(func=_cmd_simulate_exposure)
    ga = simsub.add_parser("gallery", help="PNG previews of every sub-type (needs matplotlib)")
    ga.add_argument("out_dir", metavar="OUT_DIR")
    ga.add_argument("--instrument", choices=("ACS/WFC", "WFC3/UVIS"), default="ACS/WFC")
    ga.add_argument("--seed", type=int, default=2024)
    ga.set_defaults(func=_cmd_simulate_gallery)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    from .exceptions import CelestialClassError

    try:
        return args.func(args)
    except CelestialClassError as exc:
        print(f"celestialclass {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
