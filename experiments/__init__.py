"""Experiment batches: spec -> design -> runs -> Parquet store -> analysis.

Example
-------
    from cloudmarket.experiments import load_results
    r = load_results("results/quick")
    r.runs, r.market, r.vendors            # pandas DataFrames
    r.sql("SELECT count(*) FROM runs WHERE status = 'done'")
"""

__all__ = ["Results", "load_results"]


def __getattr__(name: str):
    # Imported on first use, so `cloudmarket params` does not pay for pandas and DuckDB.
    if name in __all__:
        from cloudmarket.experiments import analysis

        return getattr(analysis, name)
    raise AttributeError(f"module 'experiments' has no attribute {name!r}")
