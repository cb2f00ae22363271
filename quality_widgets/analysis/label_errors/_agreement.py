"""Label agreement from embeddings: the share of an object's nearest neighbours (cosine) that
carry its label, and the neighbours' majority label (Encord Active's annotation quality)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...compute.similarity import knn


def cosine_knn(embeddings, k: int = 10, block: int = 4096) -> np.ndarray:
    """Indices (n, k) of each row's ``k`` nearest other rows by cosine similarity, exact, most
    similar first (ties: the lower index first); ``min(k, n - 1)`` columns. The indices of
    :func:`quality_widgets.compute.similarity.knn` (its Notes: how, how fast); rows of zeros
    are at cosine distance 1 from every row."""
    n = len(np.asarray(embeddings))
    if n < 2 or int(k) < 1:
        return np.zeros((n, 0), dtype=np.int64)
    return knn(embeddings, int(k), metric="cosine", block=block)[0]


def label_agreement(embeddings, categories, k: int = 10) -> tuple[np.ndarray, np.ndarray,
                                                                    np.ndarray]:
    """(agreement, majority, majority_share) per object from one embedding per object.

    ``agreement`` = share of its ``k`` nearest neighbours (cosine) with the same category, in
    [0, 1]; ``majority`` = the most frequent category among them (ties: the smallest id) and
    ``majority_share`` its share. Encord Active's annotation quality; exact kNN.
    """
    cats = np.asarray(categories, dtype=np.int64)
    x = np.asarray(embeddings, dtype=float)
    if len(x) != len(cats):
        raise ValueError(f"{len(x)} embeddings for {len(cats)} objects: need one per object")
    nn = cosine_knn(x, k)
    if nn.shape[1] == 0:
        nan = np.full(len(cats), np.nan)
        return nan, cats.copy(), nan
    neighbour_cats = cats[nn]
    agreement = (neighbour_cats == cats[:, None]).mean(axis=1)
    values, codes = np.unique(neighbour_cats, return_inverse=True)
    codes = codes.reshape(neighbour_cats.shape)
    counts = np.zeros((len(cats), len(values)), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(len(cats)), nn.shape[1]), codes.ravel()), 1)
    majority = values[counts.argmax(axis=1)]
    return agreement, majority, counts.max(axis=1) / nn.shape[1]


def _embedding_array(ds, metrics, embeddings, anns: pd.DataFrame) -> np.ndarray | None:
    """The embeddings of the annotations ``anns`` as a float array (len(anns), d), from an array
    in ``ds.annotations`` order, a DataFrame indexed by annotation id, or the name of a column
    of vectors on ``metrics.objects`` or ``ds.annotations``; None without embeddings."""
    if embeddings is None:
        return None
    if isinstance(embeddings, str):
        frame = getattr(metrics, "objects", None)
        source = None
        if frame is not None and embeddings in frame:
            source = frame[embeddings]
        elif embeddings in ds.annotations:
            source = ds.annotations[embeddings]
        if source is None:
            raise KeyError(f"no column {embeddings!r} of embeddings on the objects or "
                           f"annotations")
        source = source.reindex(anns.index)
        if source.isna().any():
            raise ValueError(f"embeddings column {embeddings!r}: {int(source.isna().sum())} "
                             f"annotation(s) have none (first id "
                             f"{source.index[source.isna()][0]})")
        return np.stack([np.asarray(v, dtype=float) for v in source])
    if isinstance(embeddings, pd.DataFrame):
        return embeddings.reindex(anns.index).to_numpy(dtype=float)
    x = np.asarray(embeddings, dtype=float)
    if x.ndim != 2 or len(x) != len(ds.annotations):
        raise ValueError(f"embeddings must be an array (n_annotations={len(ds.annotations)}, d)"
                         f" in the order of ds.annotations, got shape {x.shape}")
    return x[ds.annotations.index.get_indexer(anns.index)]
