#!/usr/bin/python3
"""Reference numbers for tests/digits_test.cpp, read independently of gengap
(Python's gzip + NumPy's loadtxt) from the file Debian's python3-sklearn ships.

    /usr/bin/python3 tests/reference/digits_reference.py
"""
import gzip

import numpy as np

FILE = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
a = np.loadtxt(gzip.open(FILE), delimiter=",")
print("shape", a.shape)
print("pixel sum", int(a[:, :64].sum()))
print("label counts", np.bincount(a[:, 64].astype(int)).tolist())
print("first image", a[0, :64].astype(int).tolist(), "label", int(a[0, 64]))
print("last image, first 16", a[-1, :16].astype(int).tolist(), "label", int(a[-1, 64]))
