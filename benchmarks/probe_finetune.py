"""Does fine-tuning on a few dozen chips the model got wrong help it on other objects of the same kind?

Not a speed benchmark. It answers issue 17's fine-tuning target on real
morphology the model has never seen: the bank objects a default-model build
held out (its ``hybrid_test.csv``), none of them in the bundled weights'
training or validation. Given that build's directory, it

1. draws ``--exposures`` new hybrid exposures of every held-out bank image
   (seed ``--seed``, the build's blurry fraction), keeping the chips that
   show their object by the build's rule;
2. splits those objects in two halves, per class (`split_by_body`): an
   *adapt* half, whose chips play the user's labelled chips, and an *assess*
   half that nothing below touches;
3. classifies the adapt half with ``--weights`` and keeps up to
   ``--per-class`` chips of each class that it got wrong (chosen at random
   with ``--seed``): the chips a user would label after finding the model's
   mistakes;
4. fine-tunes on them: ``celestialclass train --recipe finetune
   --init-weights WEIGHTS`` (``--epochs`` to override the recipe's 8);
5. classifies the assess half before and after, and prints both with 95 %
   intervals (bootstrap over objects), each class's recall, and the change
   with its own paired interval (the same objects resampled for both).

With ``--kind TYPE`` (a catalogue type of the bank, such as ``galaxy`` or
``'planetary nebula'``), step 3 keeps up to ``--per-class`` wrong chips of
objects of that type and as many adapt chips of the other class, drawn at
random; step 5 reports that type and every other type apart, beside a
control: the weights before fine-tuning, with their threshold moved until
the type's class has the recall fine-tuning gave it.

Measured on 2026-12-05 with the weights of the seed-21 bank build (simulator
version 5, ``stellarium-data`` 26.3; 88 held-out objects, 634 chips showing
their object, assess half 321 chips of 45 objects, majority class 60.7 %),
before: 72.6 % (62.2-81.6; recall galaxy 64.3 %, nebula/star cluster
77.9 %). After fine-tuning on the 48 wrong chips (24 per class, 21 objects)
with the ``finetune`` recipe (8 epochs, 24 steps): 70.7 %, change -1.9
points (-5.5 to +1.3); with ``--seed 9`` (other exposures, split and picks;
before 74.6 %): -4.4 points (-10.9 to +2.2). With 40 epochs (120 steps; its
training loss was still falling after 8): 44.5 %, -28.0 points (-43.9 to
-12.1): a model made to fit only its mistakes unlearns the rest. On all 153
adapt chips of those 21 objects (``--pick objects``, 8 epochs): 72.3 %,
-0.3 points (-4.0 to +3.3). None of these helps measurably. ``--kind
galaxy`` raised the held-out galaxies of no finer type by +21.7 points
(+10.3 to +33.3; ``--seed 9``: +26.4, +7.1 to +50.0) and ``--kind
'planetary nebula'`` the planetary nebulae by +11.1 (+3.6 to +19.6;
``--seed 9``: +10.4, +2.0 to +19.6), but every other type lost (-9.9,
-15.8, -8.2 and -5.2 points, each interval below zero) and the model as a
whole did no better than the control. The documentation's "Real objects"
page has the full tables.

The build must be the one the weights came from (for the bundled weights,
the build their card's command names); its bank is read from its
``build.json``. A run takes about 20 minutes on 2 CPU cores with the
defaults; rerunning reuses what WORK_DIR holds (the exposures and the
fine-tuning run are resumable).

    python benchmarks/probe_finetune.py BUILD_DIR WORK_DIR --weights default
"""

import argparse
import json
import pathlib

import numpy as np


def paired_interval(before, after, groups, *, level: float = 0.95, n_draws: int = 2000, seed: int = 0):
    """Change in accuracy (after - before) and its interval, resampling objects for both at once."""
    groups = np.asarray(groups).astype(str)
    names, index = np.unique(groups, return_inverse=True)
    change = np.asarray(after, float) - np.asarray(before, float)
    per_object = np.bincount(index, change, minlength=len(names))
    chips = np.bincount(index, minlength=len(names))
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), (n_draws, len(names)))
    resampled = per_object[draws].sum(axis=1) / chips[draws].sum(axis=1)
    tail = (1 - level) / 2
    return float(change.mean()), tuple(float(q) for q in np.quantile(resampled, [tail, 1 - tail]))


def recall(predictions, label: int) -> float:
    of_class = np.asarray(predictions["true"]) == label
    return float((np.asarray(predictions["predicted"])[of_class] == label).mean()) if of_class.any() else float("nan")


def classify(weights, table, data_dir, out_dir):
    """The predictions table of ``weights`` on ``table``'s chips (an `evaluate` report in ``out_dir``)."""
    from astropy.table import Table

    from celestialclass.evaluation.report import evaluate

    if not (pathlib.Path(out_dir) / "predictions.ecsv").exists():
        evaluate(weights, table, data_dir, out_dir, plots=False)
    return Table.read(pathlib.Path(out_dir) / "predictions.ecsv")


def report_kind(kind, kind_of, before, after, correct, *, seed):
    """Print the assess half's chips of ``kind`` and of every other type, before and after fine-tuning.

    Beside them, a control: the weights before, with their decision threshold
    moved until the kind's class has the recall that fine-tuning gave it.
    Fine-tuning on one kind's mistakes moves the boundary towards its class;
    it has learned something beyond that only where it beats this control.
    """
    from celestialclass.schema import CLASS_NAMES

    of_kind = np.array([kind_of[str(image)] == kind for image in after["Image"]])
    truth, groups = np.asarray(after["true"]), np.asarray(after["ID"]).astype(str)
    label = int(truth[of_kind][0])
    probability = np.asarray(before[f"prob_{CLASS_NAMES[label]}"])
    threshold = float(np.quantile(probability[truth == label], 1 - recall(after, label)))
    moved = np.where(probability >= threshold, label, 1 - label) == truth
    print(f"control, threshold on the probability of {CLASS_NAMES[label]} moved to {threshold:.3f} (the same recall "
          f"of it as after): accuracy {100 * moved.mean():.1f} %, recall of the other class "
          f"{100 * moved[truth != label].mean():.1f} %")
    for name, chosen in ((kind, of_kind), ("every other type", ~of_kind)):
        change, (low, high) = paired_interval(correct["before"][chosen], correct["after"][chosen], groups[chosen],
                                              seed=seed)
        print(f"{name}: {100 * correct['before'][chosen].mean():.1f} -> {100 * correct['after'][chosen].mean():.1f} % "
              f"(control {100 * moved[chosen].mean():.1f} %), change {100 * change:+.1f} points ({100 * low:+.1f} to "
              f"{100 * high:+.1f}); {chosen.sum()} chips of {len(set(groups[chosen]))} objects")
    change, (low, high) = paired_interval(moved, correct["after"], groups, seed=seed)
    print(f"after against the control, all assess chips: {100 * change:+.1f} points ({100 * low:+.1f} to "
          f"{100 * high:+.1f})")


def main(argv=None):
    from celestialclass.cards import read_card
    from celestialclass.datasets import load_bank, load_manifest, shows_object, split_by_body, write_manifest
    from celestialclass.evaluation.metrics import bootstrap_intervals
    from celestialclass.simulate import HYBRID_MANIFEST_NAME, simulate_dataset
    from celestialclass.training import train
    from celestialclass.weights import resolve_weights

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build_dir", help="a default-model build directory (its hybrid_test.csv and build.json)")
    parser.add_argument("work_dir", help="receives the exposures, the fine-tuning run and the reports")
    parser.add_argument("--weights", default="default", help="weights of that build (default: the bundled ones)")
    parser.add_argument("--exposures", type=int, default=4, help="new exposures of each held-out image")
    parser.add_argument("--per-class", type=int, default=24, help="wrong chips of each class to fine-tune on")
    parser.add_argument("--epochs", type=int, help="override the finetune recipe's epochs")
    parser.add_argument("--pick", choices=("wrong", "objects"), default="wrong",
                        help="fine-tune on the picked wrong chips (default), or on every adapt chip of their objects")
    parser.add_argument("--kind", help="pick only wrong chips of bank objects of this catalogue type (the bank's "
                                       "'type', e.g. 'planetary nebula'), with as many adapt chips of the other "
                                       "class drawn at random; report that type and the rest apart")
    parser.add_argument("--seed", type=int, default=5, help="seeds the exposures, the split and the picks")
    parser.add_argument("--split-seed", type=int, help="another split of the same exposures (default: --seed)")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)

    build_dir, work = pathlib.Path(args.build_dir), pathlib.Path(args.work_dir)
    settings = json.loads((build_dir / "build.json").read_text())
    if not settings.get("bank"):
        parser.error(f"{build_dir} was built without a bank: it holds out no bank objects")
    held_out = set(load_manifest(build_dir / "hybrid_test.csv")["ID"].astype(str))
    bank = load_bank(settings["bank"])
    bank = bank[np.isin(np.asarray(bank["group"]).astype(str), sorted(held_out))]
    print(f"held-out bank objects of {build_dir}: {len(held_out)} ({len(bank)} images)")

    sim = work / "sim"
    simulate_dataset(sim, args.exposures * len(bank), 1, seed=args.seed, blurry_fraction=settings["blurry_fraction"],
                     bank=bank, jobs=args.jobs)
    chips = load_manifest(sim / HYBRID_MANIFEST_NAME)
    chips = chips[shows_object(chips, settings["min_coverage"], settings["min_visibility"])]
    split_seed = args.seed if args.split_seed is None else args.split_seed
    adapt, assess = split_by_body(chips, 0.5, seed=split_seed)
    work = work / f"split{split_seed}"
    print(f"chips showing their object: {len(chips)}; adapt half {len(adapt)} chips of "
          f"{len(set(adapt['ID']))} objects, assess half {len(assess)} chips of {len(set(assess['ID']))} objects")

    entry = resolve_weights(args.weights)
    before_adapt = classify(args.weights, adapt, sim, work / "reports" / "before-adapt")
    assert list(before_adapt["OBSID"]) == list(adapt["OBSID"])  # a report keeps its manifest's rows, in order
    kind_of = dict(zip(np.asarray(bank["image"]).astype(str), np.asarray(bank["type"]).astype(str)))
    rng = np.random.default_rng(args.seed)
    truth = np.asarray(before_adapt["true"])
    wrong = truth != np.asarray(before_adapt["predicted"])
    if args.kind is None:
        picked = [i for label in (0, 1)
                  for i in rng.permutation(np.flatnonzero(wrong & (truth == label)))[:args.per_class]]
    else:
        of_kind = np.array([kind_of[str(image)] == args.kind for image in adapt["Image"]])
        if not of_kind.any():
            parser.error(f"no held-out chip is of type {args.kind!r}; types: {sorted(set(kind_of.values()))}")
        picked = list(rng.permutation(np.flatnonzero(wrong & of_kind))[:args.per_class])
        label = int(truth[of_kind][0])
        picked += list(rng.permutation(np.flatnonzero(truth != label))[:len(picked)])
    finetune_set = adapt[sorted(picked)]
    if args.pick == "objects":
        finetune_set = adapt[np.isin(np.asarray(adapt["ID"]).astype(str), np.asarray(finetune_set["ID"]).astype(str))]
    # what the picks were, in the names of the manifest and the run, so that each variant keeps its own
    tag = ("" if args.pick == "wrong" else "-objects") + ("" if args.kind is None else f"-{args.kind}")
    tag = tag.replace(" ", "-")
    manifest_path = work / f"finetune{tag}.csv"
    write_manifest(finetune_set, manifest_path)
    counts = {name: int(sum(finetune_set["label"] == name)) for name in ("galaxy", "nsc")}
    what = "chips it got wrong" if args.pick == "wrong" else "chips of objects it got a chip of wrong"
    if args.kind is not None:
        what = f"chips: {args.kind} it got wrong, and as many of the other class"
    print(f"fine-tuning on {len(finetune_set)} {what} ({counts['galaxy']} galaxy, {counts['nsc']} "
          f"nebula/star cluster) of {len(set(finetune_set['ID']))} objects")
    run = work / (f"finetuned{tag}" + ("" if args.epochs is None else f"-{args.epochs}-epochs"))
    if not (run / "model_card.json").exists() or not read_card(run / "model_card.json")["training"]["complete"]:
        train(entry.architecture, load_manifest(manifest_path), sim, run, recipe="finetune",
              init_weights=args.weights, seed=args.seed, epochs=args.epochs,
              resume=(run / "checkpoint.safetensors").exists())

    results, reports = {}, {}
    for name, weights in (("before", args.weights), ("after", str(run))):
        report = f"{name}-assess" + ("" if name == "before" else f"-{run.name}")
        reports[name] = predictions = classify(weights, assess, sim, work / "reports" / report)
        intervals = bootstrap_intervals(predictions, predictions["ID"])
        correct = np.asarray(predictions["true"]) == np.asarray(predictions["predicted"])
        results[name] = correct
        low, high = intervals["accuracy"]
        print(f"{name:>6}: accuracy {100 * correct.mean():.1f} % ({100 * low:.1f}-{100 * high:.1f}), recall galaxy "
              f"{100 * recall(predictions, 0):.1f} %, nebula/star cluster {100 * recall(predictions, 1):.1f} %")
    change, (low, high) = paired_interval(results["before"], results["after"], predictions["ID"], seed=args.seed)
    if args.kind is not None:
        report_kind(args.kind, kind_of, reports["before"], reports["after"], results, seed=args.seed)
    majority = max(np.mean(predictions["true"] == 0), np.mean(predictions["true"] == 1))
    print(f"change: {100 * change:+.1f} points ({100 * low:+.1f} to {100 * high:+.1f}, objects resampled); "
          f"majority class {100 * majority:.1f} %; {len(assess)} assess chips of {len(set(assess['ID']))} objects")


if __name__ == "__main__":
    main()
