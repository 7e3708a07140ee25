"""Inpainting picture: binarized-MNIST test digits with the bottom half hidden, completed.

    python benchmarks/inpaint.py results/models/binarized_mnist.npz results/inpainting.png
    python benchmarks/inpaint.py results/models/binarized_mnist_oa2.npz out.png --hide centre

Rows of the picture, for 10 test digits (one of each class): the digit, the
digit with its bottom half hidden (grey), then completions drawn from
p(bottom | top) by `conditional_sample`, then the most-probable completion
(`impute`).  The top half (the first 392 pixels in row-major order) is a
prefix of the identity ordering, so a fixed-order NADE conditions on it
exactly; an OrderAgnosticNADE accepts it as any other mask, such as
--hide left (columns 0-13), centre (the middle 14x14 square) or random (each
pixel hidden with probability 1/2, the same pixels for every digit).
"""

import argparse
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("out", help="PNG to write")
    parser.add_argument("--samples", type=int, default=4, help="completions per digit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hide", choices=("bottom", "left", "centre", "random"), default="bottom",
                        help="pixels to hide (default bottom: a prefix of the identity ordering "
                             "is observed; the others need an order-agnostic model)")
    parser.add_argument("--data-dir", default=os.environ.get("NADEFAST_DATA", os.path.join(REPO, "..", "shared", "data")))
    args = parser.parse_args(argv)

    import nadefast
    from nadefast._png import write_png
    from nadefast.datasets import load_dataset

    model = nadefast.load(args.model)  # a NADE or an OrderAgnosticNADE, whichever the file holds
    test = load_dataset("binarized_mnist", args.data_dir)["test"]
    # the test split is sorted by class (see the data README): one digit of each
    picks = np.array([0, 980, 2115, 3147, 4157, 5139, 6031, 6989, 8017, 8991]) + 7
    X = test[picks]
    hidden_mask = np.zeros((28, 28), dtype=bool)
    if args.hide == "bottom":
        hidden_mask[14:] = True
    elif args.hide == "left":
        hidden_mask[:, :14] = True
    elif args.hide == "centre":
        hidden_mask[7:21, 7:21] = True
    else:
        hidden_mask[...] = np.random.default_rng(args.seed).random((28, 28)) < 0.5
    observed = ~hidden_mask.reshape(-1)
    completions = model.conditional_sample(X, observed, n_samples=args.samples, random_state=args.seed)
    mode = model.impute(X, observed)

    def tile(images):  # (10, 784) in [0, 1] -> one row of 28x28 tiles, 1 px gaps
        row = np.full((28, 10 * 29 + 1), 0.5)
        for i, img in enumerate(images):
            row[:, 1 + 29 * i : 29 + 29 * i] = img.reshape(28, 28)
        return row

    hidden = X.astype(float)
    hidden[:, ~observed] = 0.5
    rows = [tile(X), tile(hidden)] + [tile(c) for c in completions] + [tile(mode)]
    gap = np.full((1, rows[0].shape[1]), 0.5)
    picture = np.vstack([gap] + [np.vstack([r, gap]) for r in rows])
    pixels = np.rint(255 * (1 - picture)).astype(np.uint8)  # 1 = black ink
    pixels = np.repeat(np.repeat(pixels, 2, axis=0), 2, axis=1)
    write_png(args.out, pixels)
    print(f"wrote {args.out}: rows = digits, {args.hide} pixels hidden, {args.samples} completions, "
          f"most probable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
