"""Sphinx extension: write the models page's tables from the code at build time.

Nothing in these tables is typed by hand: they come from
`celestialclass.models.summary` and `celestialclass.evaluation.tables`.
"""

from pathlib import Path

from celestialclass.cards import EVALUATION_SETS


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


def _pct(x):
    return "-" if x is None else f"{100 * x:.1f} %"


def _range(pair):
    return f"{100 * pair[0]:.1f}-{100 * pair[1]:.1f} %"


def _interval(m):
    ci = (m.get("interval") or {}).get("accuracy")
    return _range(ci) if ci else "not in the card"


#: The card's evaluation sets, in the order the docs show them, and what their chips are.
_SETS = tuple(EVALUATION_SETS.items())
_CHIPS = {"held_out": "simulated chips", "blurry": "simulated chips",
          "held_out_real": "hybrid chips of real images"}


def _default_card(out):
    """The bundled default model's card: tables and plots (confusion, ROC, reliability), from its JSON."""
    from astropy.table import Table

    from celestialclass.cards import _rebuild_command
    from celestialclass.evaluation.report import plot_confusion, plot_reliability, plot_roc
    from celestialclass.weights import get_weights

    card = get_weights("default").card
    rows, shortcut_rows, curves = [], [], {}
    for who, label, metrics in (("model", f"{card['architecture']} (2048 x 4096)", card["metrics"]),
                                ("baseline", f"{card['baseline']['architecture']} (LCID-Resize)",
                                 card["baseline"]["metrics"])):
        for what, name in _SETS:
            m = metrics.get(what)
            if not m:
                continue
            # narrow enough for the content column; the confusion matrices are figures of their own
            rows.append((label, name, m["n"], f"{_pct(m['accuracy'])} ({_interval(m)})",
                         f"{m['f1']['galaxy']:.3f} / {m['f1']['nsc']:.3f}", f"{m['roc_auc']:.3f}"))
            plot_confusion(m["confusion"], out / f"default_confusion_{who}_{what}.png",
                           f"{label}: {name} ({m['n']} {_CHIPS[what]})")
            if what in ("held_out", "held_out_real") and "roc" in m:
                curves.setdefault(what, {})[label] = m["roc"]
            if who == "model" and m.get("baselines"):
                names = {"majority": "majority class", "instrument": "instrument only", "filter": "filter only"}
                shortcut_rows += [(name, names.get(k, k), _pct(b["accuracy"]),
                                   _range(b["interval"]) if "interval" in b else "-")
                                  for k, b in m["baselines"].items()]
    _write_rst(Table(rows=rows, names=("model", "chips", "n", "accuracy (95 % interval)",
                                       "F1 galaxy / nebula-star cluster", "ROC AUC")),
               out / "default_metrics.rst")
    if shortcut_rows:
        _write_rst(Table(rows=shortcut_rows, names=("chips", "rule (no pixels)", "accuracy", "95 % interval")),
                   out / "default_shortcuts.rst")
    for what, name in _SETS:
        suffix = "" if what == "held_out" else "_real"
        if what in curves:
            plot_roc(curves[what], out / f"default_roc{suffix}.png", f"{name} ({_CHIPS[what]})")
        t = (card["metrics"].get(what) or {}).get("calibration")
        if t and what != "blurry":
            plot_reliability({f"softmax (ECE {t['ece_before']:.3f})": t["reliability"]["before"],
                              f"T = {t['temperature']:.2f} (ECE {t['ece_after']:.3f})": t["reliability"]["after"]},
                             out / f"default_reliability{suffix}.png", f"{name} ({_CHIPS[what]})")
    splits = card["splits"]
    _write_rst(Table(rows=[(name, s["bodies"], s["chips"], s["galaxy_chips"], s["nsc_chips"])
                           for name, s in splits.items() if name != "left_out_not_shown"],
                     names=("set", "bodies", "chips", "galaxy chips", "nebula/star cluster chips")),
               out / "default_splits.rst")
    _write_rst(_trust_table(card), out / "default_trust.rst")
    sim, training = card["simulator"], card["training"]
    recipe = training["recipe"]
    hidden = card["metrics"].get("held_out_not_shown")
    build = card["build"]
    calibration = card.get("calibration") or {}
    software = card.get("software", {})
    bank = card.get("bank")
    facts = [
        ("weights", f"``{card['weights']['file']}``, sha256 ``{card['weights']['sha256']}``"),
        ("what it is", f"``{card['architecture']}``: two CelestialNet-Lite bodies on one fixed first layer, "
                       "their class probabilities averaged; full 2048 x 4096 chips, bias subtracted, asinh scaled"),
        ("training data", training["data"]),
        ("simulator", f"version {sim['version']}; mock LCID seed {sim['seed']}, {sim['bodies']} bodies x "
                      f"{sim['exposures_per_body']} exposure; blurry set seed {sim['blurry_seed']}, "
                      f"{sim['blurry_bodies']} bodies"),
        ("recipe", f"``{recipe['name']}``: {recipe['optimizer']}, lr {recipe['lr']}, batch {recipe['batch_size']}, "
                   f"{recipe['epochs']} epochs, {recipe['schedule']} schedule, flips {recipe['augment']}, "
                   f"crops {recipe.get('crop', 1.0):g} of each side; seed "
                   f"{training['seed']}; {training['steps']} steps"),
        ("calibration", (f"temperature {calibration['temperature']:.3f}, fitted on {calibration['fitted_on']} "
                         f"({calibration['objects']} validation objects); suggested ``min_confidence`` "
                         f"{calibration['min_confidence']:.3f}, which answers "
                         f"{calibration['answered_fraction']:.0%} of the validation chips")
         if calibration.get("method") == "temperature" else "none"),
        ("left out", f"chips that do not show their object (less than {build['min_coverage']:.0%} of their "
                     f"area within its visible radius, or its S/N below {build['min_visibility']:g} over 1 % of "
                     "the chip): "
                     + ", ".join(f"{n['chips']} of {k} ({n['uncovered']} uncovered, {n['too_faint']} too faint)"
                                 for k, n in splits["left_out_not_shown"].items())
                     + (f"; on the held-out ones the model scores {_pct(hidden['accuracy'])} "
                        f"({hidden['n']} chips)" if hidden else "")),
        *([("bank", f"{bank['images']} images of {bank['objects']} objects from ``{bank['source']}`` "
                    f"(bank.ecsv sha256 ``{bank['bank_sha256'][:12]}...``): {bank['note']}")]
          if bank else []),
        ("rebuild", f"``{_rebuild_command(card)}``"),
        ("built with", ", ".join(f"{k} {v}" for k, v in software.items())),
        ("build time", ", ".join(f"{k} {v / 60:.1f} min" for k, v in card["timings_s"].items()
                                 if not k.startswith("evaluate"))
         + f", evaluation {sum(v for k, v in card['timings_s'].items() if k.startswith('evaluate')) / 60:.1f} min"
         + f"; total {sum(card['timings_s'].values()) / 60:.0f} min on the 2-core machine that built it "
           "(``benchmarks/bench_build.py`` estimates another machine's)"),
    ]
    # A two-column table, not a field list: the theme squeezes field names into a narrow column.
    lines = [".. list-table::", "   :widths: 24 76", "   :class: card-facts", ""]
    for key, value in facts:
        lines += [f"   * - {key}", f"     - {value}"]
    (out / "default_facts.rst").write_text("\n".join(lines) + "\n")
    _default_targets(card, out)


def _trust_table(card):
    """Calibration and abstention of the model on each set, from the card."""
    from astropy.table import Table

    rows = []
    for what, name in _SETS:
        m = card["metrics"].get(what) or {}
        t, a = m.get("calibration"), m.get("abstention")
        if not t:
            continue
        ci, floor = t.get("ece_after_interval"), t.get("ece_if_calibrated")
        # four columns, narrow enough for the content column
        ece = f"{t['ece_before']:.3f} \u2192 {t['ece_after']:.3f}" + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")
        rows.append((name, ece,
                     f"{floor['median']:.3f} ({floor['interval'][0]:.3f}-{floor['interval'][1]:.3f})"
                     if floor else "-",
                     f"{_pct(a['coverage'])} answered, {_pct(a['accuracy_answered'])} of them right "
                     f"({_pct(a['accuracy_all'])} of all)" if a else "-"))
    return Table(rows=rows or [("-",) * 4],
                 names=("chips", "ECE: softmax \u2192 calibrated (95 %)", "ECE if perfectly calibrated (95 %)",
                        "at the suggested min_confidence"))


def _example_explanation(out):
    """The explanation map of the built-in example exposure, for the index and the trust page."""
    import tempfile
    from pathlib import Path

    from celestialclass import CelestialClassifier
    from celestialclass.simulate import write_example_raw

    with tempfile.TemporaryDirectory() as tmp:
        raw = write_example_raw(Path(tmp) / "jexampl0q_raw.fits")
        CelestialClassifier(device="cpu").explain(raw, hdu=4)[0].plot(out / "example_explain.png")


def _default_targets(card, out):
    """The package's aims for the default model beside what its card measured, met or not."""
    from astropy.table import Table

    model, base = card["metrics"], card["baseline"]["metrics"]
    held, blurry = model["held_out"], model["blurry"]
    f1 = min(held["f1"].values())
    rows = [
        ("held-out accuracy >= 95 %", _pct(held["accuracy"]), held["accuracy"] >= 0.95),
        ("held-out F1 >= 0.95, both classes",
         f"{held['f1']['galaxy']:.3f} galaxy, {held['f1']['nsc']:.3f} nebula/star cluster", f1 >= 0.95),
        ("blurry-set accuracy >= 90 %", _pct(blurry["accuracy"]), blurry["accuracy"] >= 0.90),
        ("beats ResNet18 on LCID-Resize, held-out bodies",
         f"{_pct(held['accuracy'])} against {_pct(base['held_out']['accuracy'])}",
         held["accuracy"] > base["held_out"]["accuracy"]),
        ("beats ResNet18 on LCID-Resize, blurry set",
         f"{_pct(blurry['accuracy'])} against {_pct(base['blurry']['accuracy'])}",
         blurry["accuracy"] > base["blurry"]["accuracy"]),
    ]
    if "calibration" in held:
        t = held["calibration"]
        ci, floor = t.get("ece_after_interval"), t.get("ece_if_calibrated")
        got = f"{t['ece_after']:.3f}" + (f" (95 % {ci[0]:.3f}-{ci[1]:.3f})" if ci else "")
        got += f"; softmax {t['ece_before']:.3f}"
        if floor:
            got += f"; a perfectly calibrated model would score {floor['median']:.3f} on these chips"
        rows.append(("held-out expected calibration error <= 0.03 (after calibration)", got,
                     t["ece_after"] <= 0.03))
    real = model.get("held_out_real")
    if real:
        recall = real["recall"]
        rows += [
            ("held-out bank objects: accuracy >= 85 %", f"{_pct(real['accuracy'])} ({_interval(real)})",
             real["accuracy"] >= 0.85),
            ("held-out bank objects: recall >= 80 %, both classes",
             f"{_pct(recall['galaxy'])} galaxy, {_pct(recall['nsc'])} nebula/star cluster",
             min(recall.values()) >= 0.80),
            ("held-out bodies: accuracy >= 92 %", _pct(held["accuracy"]), held["accuracy"] >= 0.92),
            ("beats ResNet18 on LCID-Resize, held-out bank objects",
             f"{_pct(real['accuracy'])} against {_pct(base['held_out_real']['accuracy'])}",
             real["accuracy"] > base["held_out_real"]["accuracy"]),
        ]
    _write_rst(Table(rows=[(aim, got, "met" if ok else "**not met**") for aim, got, ok in rows],
                     names=("aim", "measured", "verdict")), out / "default_targets.rst")


def generate(app):
    out = Path(app.srcdir) / "_generated"
    out.mkdir(exist_ok=True)
    _table2(out)
    _model_layers(out)
    _table3(out)
    _default_card(out)
    _example_explanation(out)


def setup(app):
    app.connect("builder-inited", generate)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
