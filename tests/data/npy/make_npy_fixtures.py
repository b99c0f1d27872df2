#!/usr/bin/python3
"""Writes the .npy fixtures of tests/npy_test.cpp with NumPy itself (1.24,
Debian 12), so gengap's reader and writer are checked against the reference
implementation of the format. Run from this folder."""
import numpy as np

a = (np.arange(6, dtype=np.float64).reshape(2, 3) - 2.5) / 3.0
np.save('c_order_2x3.npy', a)
np.save('fortran_order_2x3.npy', np.asfortranarray(a))
np.save('big_endian_2x3.npy', a.astype('>f8'))
np.save('float32_2x3.npy', a.astype('<f4'))
np.save('int64_4.npy', np.array([-3, 0, 7, 2**40], dtype='<i8'))
np.save('vector_5.npy', np.linspace(-1, 1, 5))
np.save('scalar.npy', np.array(np.pi))
with open('version2_2x3.npy', 'wb') as f:
    np.lib.format.write_array(f, a, version=(2, 0))
