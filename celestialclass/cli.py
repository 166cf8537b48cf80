"""The ``celestialclass`` command line: a thin front for the package, no logic of its own.

Heavy modules are imported inside each subcommand, so ``celestialclass --help``
starts fast.
"""

from __future__ import annotations

import argparse
import json
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
