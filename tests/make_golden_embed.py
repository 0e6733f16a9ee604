#!/usr/bin/python3
"""Golden data for tests/test_embed.c: PCA, silhouette and k-NN accuracy
computed with numpy, independently of runtime/run/embed_math.c.

  PCA        numpy.linalg.eigh of the covariance (n - 1 denominator);
             the largest-magnitude entry of each component made positive
             (the test compares up to sign anyway).
  silhouette sklearn's definition: s(i) = (b - a) / max(a, b), a the mean
             distance to the rest of i's class, b the smallest mean distance
             to another class, s(i) = 0 in a class of one; the mean of s.
  k-NN       leave-one-out, k nearest by Euclidean distance (equal
             distances: lower index first), majority vote, a tied vote to
             the tied class with the nearest member.

Run with Debian's python (numpy): /usr/bin/python3 tests/make_golden_embed.py
It rewrites tests/data/embed/{pca_small,pca_wide,metrics}.txt."""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "embed")


def rows(f, a):
    for r in np.atleast_2d(a):
        f.write(" ".join("%.9g" % v for v in r) + "\n")


def pca(x, k):
    x64 = x.astype(np.float64)
    c = np.cov(x64, rowvar=False)
    w, v = np.linalg.eigh(c)
    order = np.argsort(w)[::-1][:k]
    w, v = w[order], v[:, order]
    for j in range(k):
        big = np.argmax(np.abs(v[:, j]))
        if v[big, j] < 0:
            v[:, j] = -v[:, j]
    proj = (x64 - x64.mean(0)) @ v
    return w / np.trace(c), v.T, proj


def write_pca(name, x, k):
    explained, comps, proj = pca(x, k)
    with open(os.path.join(OUT, name), "w") as f:
        f.write("# made by tests/make_golden_embed.py: input, explained variance "
                "ratio, components, projections\n")
        f.write("%d %d %d\n" % (x.shape[0], x.shape[1], k))
        rows(f, x)
        rows(f, explained)
        rows(f, comps)
        rows(f, proj)


def silhouette(x, y):
    x = x.astype(np.float64)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    s = np.zeros(len(x))
    labels = np.unique(y)
    for i in range(len(x)):
        own = y == y[i]
        if own.sum() < 2:
            continue
        a = d[i, own].sum() / (own.sum() - 1)
        b = min(d[i, y == c].mean() for c in labels if c != y[i])
        s[i] = (b - a) / max(a, b)
    return s.mean()


def knn(x, y, k):
    x = x.astype(np.float64)
    hits = 0
    for i in range(len(x)):
        d = ((x - x[i]) ** 2).sum(1)
        d[i] = np.inf
        order = np.lexsort((np.arange(len(x)), d))[:k]
        votes = np.bincount(y[order], minlength=y.max() + 1)
        top = votes.max()
        pred = next(y[j] for j in order if votes[y[j]] == top)
        hits += pred == y[i]
    return hits / len(x)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20261201)
    # small: d <= 64 (Jacobi on the covariance); anisotropic so that the
    # eigenvalues are well apart
    x = (rng.standard_normal((60, 8)) * np.array([5, 3, 2, 1.5, 1, .7, .5, .3])
         @ np.linalg.qr(rng.standard_normal((8, 8)))[0]).astype(np.float32)
    write_pca("pca_small.txt", x, 3)
    # wide: d > 64 (subspace iteration)
    scales = 4.0 * 0.8 ** np.arange(80)
    x = (rng.standard_normal((40, 80)) * scales + 1.5).astype(np.float32)
    write_pca("pca_wide.txt", x, 2)
    # metrics: four overlapping clusters in 6 dims, one class of a single point
    centers = rng.standard_normal((4, 6)) * 1.6
    y = np.concatenate([np.full(40, 0), np.full(35, 1), np.full(44, 2), [3]])
    x = (centers[y] + rng.standard_normal((len(y), 6))).astype(np.float32)
    perm = rng.permutation(len(y))
    x, y = x[perm], y[perm]
    with open(os.path.join(OUT, "metrics.txt"), "w") as f:
        f.write("# made by tests/make_golden_embed.py: n d classes k, rows of "
                "label and features, silhouette, k-NN accuracy\n")
        f.write("%d %d %d %d\n" % (len(y), 6, 4, 5))
        for label, r in zip(y, x):
            f.write("%d " % label + " ".join("%.9g" % v for v in r) + "\n")
        f.write("%.17g\n%.17g\n" % (silhouette(x, y), knn(x, y, 5)))


if __name__ == "__main__":
    main()
