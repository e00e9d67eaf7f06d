"""Past one machine: the nightly on a dask.distributed cluster, reading the CRM partition by partition."""
