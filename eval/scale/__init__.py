"""scale numbers: the nightly on Dask."""
