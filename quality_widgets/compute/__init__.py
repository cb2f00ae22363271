"""Computing metrics: the ``@metric`` registry, the engine (plan -> run -> assemble), the kept
worker pool, the Parquet cache, the exact pixel kernels and hash / embedding neighbours."""
