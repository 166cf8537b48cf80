"""Sphinx extension: write the models page's tables from the code at build time.

Nothing in these tables is typed by hand: they come from
`celestialclass.models.summary` and `celestialclass.evaluation.tables`.
"""

from pathlib import Path


def _write_rst(table, path):
    table.write(path, format="ascii.rst", overwrite=True)


def _table2(out):
    import torch
    from astropy.table import Table
    from torch import nn

    from celestialclass.models import get_model, summary

    with torch.device("meta"):
        model = get_model("hr-celestialnet")
    rows = []
    for row in summary(model, batch_size=1).layers:
        module = model.get_submodule(row["name"])
        if not isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.Linear)):
            continue
        kind = {"Conv2d": "Convolution", "MaxPool2d": "Max Pooling", "Linear": "Fully Connected"}[row["type"]]
        kernel = getattr(module, "kernel_size", "-")
        kernel = f"{kernel[0]}x{kernel[1]}" if isinstance(kernel, tuple) else str(kernel)
        stride = getattr(module, "stride", "-")
        stride = str(stride[0]) if isinstance(stride, tuple) else str(stride)
        shape = row["output_shape"].split("x", 1)[1]
        rows.append((len(rows) + 1, kind, kernel if kind != "Fully Connected" else "-",
                     stride if kind != "Fully Connected" else "-", shape, f"{row['params']:,}"))
    _write_rst(Table(rows=rows, names=("layer", "type", "kernel", "stride", "output (CxHxW)",
                                       "trainable params")), out / "table2.rst")


def _model_layers(out):
    from celestialclass.models import list_models, summary

    for name in ("hr-celestialnet", "alexnet", "vgg16-bn", "resnet18", "celestialnet-lite", "celestialnet-lite-x2"):
        assert name in list_models()
        s = summary(name, batch_size=1)
        table = s.layers.copy()
        table["output_shape"] = [shape.split("x", 1)[1] for shape in table["output_shape"]]
        _write_rst(table, out / f"layers_{name}.rst")
        (out / f"totals_{name}.rst").write_text(
            f"Input {'x'.join(map(str, s.input_size))}: {s.total_params:,} parameters "
            f"({s.params_mb:.2f} MB), {s.macs / 1e9:.2f} G multiply-accumulates per input.\n"
        )


def _table3(out):
    from celestialclass.evaluation.tables import reproduce_table3

    _write_rst(reproduce_table3(), out / "table3.rst")


def _reproducibility(record) -> str:
    """The card's record of rebuilding the bundle, as one line."""
    if not record:
        return "not checked at full scale"
    runs = "; ".join(f"{run['how']}: sha256 ``{run['sha256'][:16]}...``" for run in record["runs"])
    baseline = f" {record['baseline']}." if "baseline" in record else ""
    return f"{'bit for bit' if record['bit_exact'] else 'not bit for bit'} ({record['checked']}). {runs}." \
           f"{baseline} {record['note']}"


def _pct(x):
    return "-" if x is None else f"{100 * x:.1f} %"


def _default_card(out):
    """The bundled default model's card: metrics tables and confusion-matrix plots, from its JSON."""
    from astropy.table import Table

    from celestialclass.evaluation.report import plot_confusion
    from celestialclass.weights import get_weights

    card = get_weights("default").card
    rows = []
    for who, label, metrics in (("model", f"{card['architecture']} (LCID, 2048 x 4096)", card["metrics"]),
                                ("baseline", f"{card['baseline']['architecture']} (LCID-Resize, 224 x 448)",
                                 card["baseline"]["metrics"])):
        for what, name in (("held_out", "held-out bodies"), ("blurry", "blurry set")):
            m = metrics.get(what)
            if not m:
                continue
            rows.append((label, name, m["n"], _pct(m["accuracy"]), _pct(m["f1"]["galaxy"]), _pct(m["f1"]["nsc"]),
                         f"{m['roc_auc']:.3f}", str(m["confusion"])))
            plot_confusion(m["confusion"], out / f"default_confusion_{who}_{what}.png",
                           f"{label}: {name} ({m['n']} simulated chips)")
    _write_rst(Table(rows=rows, names=("model", "chips", "n", "accuracy", "F1 galaxy", "F1 NSC", "ROC AUC",
                                       "confusion [[gg, gn], [ng, nn]]")), out / "default_metrics.rst")
    splits = card["splits"]
    _write_rst(Table(rows=[(name, s["bodies"], s["chips"], s["galaxy_chips"], s["nsc_chips"])
                           for name, s in splits.items() if name != "left_out_not_shown"],
                     names=("set", "bodies", "chips", "galaxy chips", "NSC chips")), out / "default_splits.rst")
    sim, training = card["simulator"], card["training"]
    recipe = training["recipe"]
    hidden = card["metrics"].get("held_out_not_shown")
    build = card["build"]
    facts = [
        ("weights", f"``{card['weights']['file']}``, sha256 ``{card['weights']['sha256']}``"),
        ("training data", training["data"]),
        ("simulator", f"version {sim['version']} (celestialclass {sim['celestialclass']}); mock LCID seed "
                      f"{sim['seed']}, {sim['bodies']} bodies x {sim['exposures_per_body']} exposures; blurry "
                      f"set seed {sim['blurry_seed']}, {sim['blurry_bodies']} bodies"),
        ("recipe", f"``{recipe['name']}``: {recipe['optimizer']}, lr {recipe['lr']}, batch {recipe['batch_size']}, "
                   f"{recipe['epochs']} epochs, {recipe['schedule']} schedule, flips {recipe['augment']}, "
                   f"crops {recipe.get('crop', 1.0):g} of each side; seed "
                   f"{training['seed']}; {training['steps']} steps"),
        ("command", f"``{training['command']}``"),
        ("calibration", (f"decision threshold {card['calibration']['threshold']:.2f} on the NSC probability, "
                         f"chosen on {card['calibration']['measured_on']} (validation bodies) and folded into "
                         "the last layer's bias; the baseline is calibrated the same way (threshold "
                         f"{card['baseline']['calibration']['threshold']:.2f})")
         if "calibration" in card else "none: both models decide at a probability of 0.5"),
        ("left out", f"chips that do not show their object (less than {build['min_coverage']:.0%} of their "
                     f"area within its visible radius, or its S/N below {build['min_visibility']:g} over 1 % of "
                     "the chip): "
                     + ", ".join(f"{n['chips']} of {k} ({n['uncovered']} uncovered, {n['too_faint']} too faint)"
                                 for k, n in splits["left_out_not_shown"].items())
                     + (f"; on the held-out ones the model scores {_pct(hidden['accuracy'])} "
                        f"({hidden['n']} chips)" if hidden else "")),
        ("reproducibility", _reproducibility(card.get("reproducibility"))),
        ("build time", ", ".join(f"{k} {v / 60:.1f} min" for k, v in card["timings_s"].items()
                                 if not k.startswith("evaluate"))
         + f", evaluation {sum(v for k, v in card['timings_s'].items() if k.startswith('evaluate')) / 60:.1f} min"
         + f"; total {sum(card['timings_s'].values()) / 60:.0f} min on the 2-core machine that built it "
           "(``benchmarks/bench_build.py`` estimates another machine's). " + card.get("timings_note", "")),
    ]
    # A two-column table, not a field list: the theme squeezes field names into a narrow column.
    lines = [".. list-table::", "   :widths: 24 76", "   :class: card-facts", ""]
    for key, value in facts:
        lines += [f"   * - {key}", f"     - {value}"]
    (out / "default_facts.rst").write_text("\n".join(lines) + "\n")
    _default_targets(card, out)


def _default_targets(card, out):
    """The package's aims for the default model beside what its card measured, met or not."""
    from astropy.table import Table

    model, base = card["metrics"], card["baseline"]["metrics"]
    held, blurry = model["held_out"], model["blurry"]
    f1 = min(held["f1"].values())
    rows = [
        ("held-out accuracy >= 95 %", _pct(held["accuracy"]), held["accuracy"] >= 0.95),
        ("held-out F1 >= 0.95, both classes",
         f"{held['f1']['galaxy']:.3f} galaxy, {held['f1']['nsc']:.3f} NSC", f1 >= 0.95),
        ("blurry-set accuracy >= 90 %", _pct(blurry["accuracy"]), blurry["accuracy"] >= 0.90),
        ("beats ResNet18 on LCID-Resize, held-out bodies",
         f"{_pct(held['accuracy'])} against {_pct(base['held_out']['accuracy'])}",
         held["accuracy"] > base["held_out"]["accuracy"]),
        ("beats ResNet18 on LCID-Resize, blurry set",
         f"{_pct(blurry['accuracy'])} against {_pct(base['blurry']['accuracy'])}",
         blurry["accuracy"] > base["blurry"]["accuracy"]),
    ]
    _write_rst(Table(rows=[(aim, got, "met" if ok else "**not met**") for aim, got, ok in rows],
                     names=("aim", "measured (simulated chips)", "verdict")), out / "default_targets.rst")


def generate(app):
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    _table2(out)
    _model_layers(out)
    _table3(out)
    _default_card(out)


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
