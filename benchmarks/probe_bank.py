"""How well can the bank's pictures themselves be told apart? A ceiling for learning real morphology from them.

Not a speed benchmark. Hybrid exposures (`celestialclass.simulate.hybrid`)
put a bank picture through the simulator; before asking how well a model
learns galaxies and nebulae/star clusters from them, this probe asks how well
a small convolutional network, trained from nothing, tells the bank's clean
pictures apart, held out by object (the bank's ``group``), in ``--folds``
folds: each picture's 8-bit values decoded from sRGB to linear light and
averaged over the colours, its border's median subtracted, scaled to its
99.5th percentile, resized (area) to 192 x 192 pixels, then shown to the
network at 96 x 96 after an asinh stretch, with random flips and, with
``--view part``, a random square crop of 25 to 100 % of the side (as a chip
shows part of an object; test pictures get such crops too, four per
picture, probabilities averaged). ``--view window`` crops instead a square
``--window`` arcsec wide at each picture's true angular scale (the bank's
``width``; pictures kept 512 pixels wide), near its centre: a chip's view
without the photographer's framing.

Measured on 2026-12-04 with ``stellarium-data`` 26.3 (584 pictures of 583
objects), 5 folds: 87.2 % with whole pictures (folds 85.5-88.2 %, majority
class 60.3 %; recall galaxy 87.6 %, nebula/star cluster 86.9 %); 85.8 %
with partial views (folds 84.3-90.3 %); 87.0 % in windows 150 arcsec wide
(``--view window``; folds 82.9-90.9 %, recall galaxy 88.5 %, nebula/star
cluster 86.3 %), so the framing is not what the network reads. So this
bank's few hundred objects can teach a network trained from nothing to
about 87 %; hybrid chips of the same pictures teach far less
(``probe_hybrid.py``): what is lost, is lost on the way to the chip.

``--train-fraction F`` trains each fold on a random fraction of its
training objects (the held-out fold unchanged): a learning curve. Measured
on 2026-12-05 (same bank, whole pictures): all training objects (some 470
pictures a fold) 87.6 % (folds 81.9-91.3 %; the same setting as above, on
another day's software: within its spread), half 87.2 % (83.9-93.0 %), a
quarter 83.0 % (81.0-86.0 %). Clean pictures stop gaining at a few hundred
objects, so more objects of the same kind would not lift this ceiling much.

    python benchmarks/probe_bank.py bank/ --view whole
"""

import argparse

import numpy as np

SIDE = 96
WINDOW_SIDE = 512  # pictures are kept this wide for ``--view window``, whose windows may be small


def linear_picture(path, side: int = 2 * SIDE) -> np.ndarray:
    """The picture's linear light (as ``probe_presented.py`` decodes it), 99.5th percentile 1, side x side."""
    import cv2

    from probe_presented import linear_luminance  # beside this script

    light = linear_luminance(path)
    light /= np.percentile(light, 99.5) + 1e-6
    return cv2.resize(light, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)


def view(picture, rng, part: bool, window: float | None = None) -> np.ndarray:
    """One view of a picture: optionally a random crop, resized to SIDE, flipped at random, stretched, standardised.

    With ``part``, a square crop of 25 to 100 % of the side, anywhere. With
    ``window`` (a fraction of the picture's side), a square crop of that
    side (8 pixels at least), its centre within 30 % of the free margin of
    the picture's centre, as exposures point near their target.
    """
    import cv2

    side = picture.shape[0]
    if window is not None:
        n = int(np.clip(window * side, 8, side))
        r0, c0 = np.clip(np.round((side - n) / 2 + rng.uniform(-0.3, 0.3, 2) * (side - n)), 0, side - n).astype(int)
        picture = picture[r0:r0 + n, c0:c0 + n]
    elif part:
        n = int(side * rng.uniform(0.25, 1.0))
        r0, c0 = rng.integers(0, side - n + 1, 2)
        picture = picture[r0:r0 + n, c0:c0 + n]
    x = cv2.resize(np.ascontiguousarray(picture), (SIDE, SIDE),
                   interpolation=cv2.INTER_AREA if picture.shape[0] >= SIDE else cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        x = x[::-1]
    if rng.random() < 0.5:
        x = x[:, ::-1]
    x = np.arcsinh(10 * x)
    return ((x - x.mean()) / (x.std() + 1e-3)).astype(np.float32)


def network(in_channels: int = 1):
    """The probes' small network: five convolution blocks on ``in_channels`` channels, two classes."""
    import torch.nn as nn

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2)]

    return nn.Sequential(*block(in_channels, 16), *block(16, 32), *block(32, 64), *block(64, 96), *block(96, 128),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, 2))


def fit(batch, labels, train, *, epochs: int, rng, torch_seed: int, channels: int = 1):
    """`network` trained on the items ``train`` (class-balanced loss, AdamW, one-cycle schedule, batches of 32).

    ``batch(indices, rng)`` gives those items' training views as an array of
    shape (n, channels, rows, cols); ``labels`` are 1 for a galaxy. Returns the model
    in evaluation mode.
    """
    import torch

    torch.manual_seed(torch_seed)
    train = np.array(train)
    model = network(channels)
    optimizer = torch.optim.AdamW(model.parameters(), 2e-3, weight_decay=1e-3)
    batches = int(np.ceil(len(train) / 32))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=epochs * batches)
    balance = torch.tensor([1 / np.mean(labels[train] == 0), 1 / np.mean(labels[train] == 1)], dtype=torch.float32)
    for _ in range(epochs):
        model.train()
        rng.shuffle(train)
        for start in range(0, len(train), 32):
            chosen = train[start:start + 32]
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(batch(chosen, rng))),
                                                     torch.from_numpy(labels[chosen]), weight=balance)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def main(argv=None):
    import torch

    from celestialclass.datasets import load_bank

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bank", help="a bank directory (celestialclass bank build)")
    parser.add_argument("--view", choices=("whole", "part", "window"), default="whole")
    parser.add_argument("--window", type=float, default=150.0, metavar="ARCSEC",
                        help="--view window: the window's side on the sky (each picture at its true scale)")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-fraction", type=float, default=1.0,
                        help="train on this fraction of each fold's training objects (drawn at random): a "
                             "learning curve, whether more objects would help")
    args = parser.parse_args(argv)
    if not 0 < args.train_fraction <= 1:
        parser.error("--train-fraction must be in (0, 1]")

    bank = load_bank(args.bank)
    windowed = args.view == "window"
    pictures = np.stack([linear_picture(path, WINDOW_SIDE if windowed else 2 * SIDE) for path in bank["path"]])
    fractions = (args.window / np.asarray(bank["width"], float)) if windowed else [None] * len(bank)
    labels = np.array([label == "galaxy" for label in bank["label"]], dtype=int)
    groups = np.array(bank["group"])
    unique = np.unique(groups)
    np.random.default_rng(args.seed).shuffle(unique)
    part = args.view == "part"
    test_views = 1 if args.view == "whole" else 4  # crops and windows: four per test picture, averaged
    accuracies, recalls = [], []
    for fold, held in enumerate(np.array_split(unique, args.folds)):
        test = np.isin(groups, held)
        rng = np.random.default_rng([args.seed, fold])

        def batch(chosen, rng):
            return np.stack([view(pictures[i], rng, part, fractions[i]) for i in chosen])[:, None]

        train = np.nonzero(~test)[0]
        if args.train_fraction < 1:  # its own draw, so that whole folds train as they did without the option
            others = np.setdiff1d(unique, held)
            kept = np.random.default_rng([args.seed, fold, 1]).permutation(others)
            train = np.nonzero(~test & np.isin(groups, kept[:max(1, round(args.train_fraction * len(others)))]))[0]
        model = fit(batch, labels, train, epochs=args.epochs, rng=rng, torch_seed=args.seed + fold)
        held_out = np.nonzero(test)[0]
        with torch.inference_mode():
            views = [torch.from_numpy(np.stack([view(pictures[i], rng, part, fractions[i]) for i in held_out]))[:, None]
                     for _ in range(test_views)]
            probability = np.mean([model(x).softmax(1)[:, 1].numpy() for x in views], axis=0)
        predicted, truth = probability > 0.5, labels[held_out].astype(bool)
        accuracies.append(np.mean(predicted == truth))
        recalls.append((np.mean(predicted[truth]), np.mean(~predicted[~truth])))
        print(f"fold {fold}: trained on {len(train)} pictures, {len(held_out)} held out, accuracy "
              f"{100 * accuracies[-1]:.1f} %, recall galaxy {100 * recalls[-1][0]:.1f} %, nebula/star cluster "
              f"{100 * recalls[-1][1]:.1f} %", flush=True)
    majority = max(np.mean(labels), 1 - np.mean(labels))
    galaxy, nsc = np.mean(recalls, axis=0)
    print(f"{args.view} pictures, {args.folds} folds by object: accuracy {100 * np.mean(accuracies):.1f} % "
          f"(folds {100 * min(accuracies):.1f}-{100 * max(accuracies):.1f} %; majority class {100 * majority:.1f} %), "
          f"recall galaxy {100 * galaxy:.1f} %, nebula/star cluster {100 * nsc:.1f} %")


if __name__ == "__main__":
    main()
