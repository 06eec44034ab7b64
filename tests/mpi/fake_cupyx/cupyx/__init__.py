"""A stand-in for CuPy's cupyx in the tests (no GPU or CuPy needed): only cupyx.distributed."""
