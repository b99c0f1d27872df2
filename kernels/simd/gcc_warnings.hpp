#pragma once
// Included first by every kernel source that inlines xsimd's exp or sincos:
// in AVX-512 code they trip GCC 12's false uninitialized warnings inside
// xsimd's own headers (GCC bug 105593), reported at the templates'
// definitions, so the pragmas must precede every include and stay in force
// for the whole translation unit (no push/pop).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
