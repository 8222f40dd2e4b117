"""``GraphDataset``: a PyG :class:`~torch_geometric.data.InMemoryDataset` that carries its metadata.

Every data set the project hands to a model (TU benchmarks, the synthetic set, a user's graphs) is
one of these, so training code can rely on the same attributes everywhere:

* ``name`` — a short name for logs and result files;
* ``label_mapping`` — ``{raw graph label: class index}`` (plain dict), empty when unlabelled;
* ``feature_spec`` — how ``data.x`` was built (plain JSON-able dict, see :mod:`.features`); it goes
  into every checkpoint so that new graphs can be mapped the same way;
* ``filtered`` — what a ``max_nodes`` filter removed (``None`` when nothing was filtered);
* ``info`` — anything else worth reporting (source path, self-loops dropped, ...).

Graphs are stored collated, as PyG does, and can be saved to / loaded from one ``.pt`` file whose
content is plain tensors and dicts (loadable with ``torch.load(weights_only=True)``). The features
may be stored compact (``x_attr`` / ``x_hot`` instead of ``x``, see :mod:`.features`: TU sets are);
every graph read from the data set (``dataset[i]``, iteration, loaders) has ``x`` all the same.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch
from torch_geometric.data import Data, InMemoryDataset

from ..atomic import atomic_open
from .errors import DataError
from .features import expand_features

__all__ = ["GraphDataset", "FORMAT_VERSION"]

#: Bumped whenever the processed layout or the processing itself changes; a cache file written
#: under another version is processed again (and replaced). Version 2 may store ``x`` compact.
FORMAT_VERSION = 2
#: The versions :meth:`GraphDataset.load_from` reads: version 1 files hold ``x`` itself, which
#: version 2 reads as it is.
READABLE_VERSIONS = (1, 2)


class GraphDataset(InMemoryDataset):
    """An in-memory list of graphs (``x`` float32 [n, F], ``edge_index``, ``y`` long [1]) plus metadata.

    Indexing, slicing and ``len`` behave as for any PyG ``InMemoryDataset``; subsets made with
    ``dataset[idx]`` keep the metadata. Features stored compact are expanded to ``x`` graph by graph
    as they are read (:meth:`get`), before any ``transform``.
    """

    def __init__(
        self,
        data_list: Sequence[Data] | None = None,
        *,
        name: str = "graphs",
        label_mapping: dict | None = None,
        feature_spec: dict | None = None,
        filtered: dict | None = None,
        info: dict | None = None,
        transform: Callable | None = None,
    ) -> None:
        super().__init__(None, transform)
        self.name = name
        self.label_mapping: dict = dict(label_mapping or {})
        self.feature_spec: dict | None = feature_spec
        self.filtered: dict | None = filtered
        self.info: dict = dict(info or {})
        self.from_cache = False
        self.format_version = FORMAT_VERSION  # of the file it was loaded from, if it was
        if data_list is not None:
            if len(data_list) == 0:
                raise DataError(f"{name}: no graphs to make a data set from")
            self.data, self.slices = self.collate(list(data_list))

    def get(self, idx: int) -> Data:
        """Graph ``idx`` with ``x``, expanded from compact features where they are stored so."""
        return expand_features(super().get(idx), self.feature_spec)

    # -- metadata-aware properties ---------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of classes: the size of ``label_mapping`` (robust to filtered-out classes)."""
        if self.label_mapping:
            return len(self.label_mapping)
        return super().num_classes

    @property
    def class_names(self) -> list:
        """Raw label of each class index, e.g. ``[-1, 1]`` for MUTAG."""
        inverse = {index: raw for raw, index in self.label_mapping.items()}
        return [inverse[i] for i in range(len(inverse))]

    def metadata(self) -> dict:
        """All metadata as one plain dict (what is saved next to the tensors)."""
        return {
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "label_mapping": dict(self.label_mapping),
            "feature_spec": self.feature_spec,
            "filtered": self.filtered,
            "info": dict(self.info),
        }

    # -- persistence -------------------------------------------------------------------------------
    def save_to(self, path: os.PathLike | str) -> None:
        """Write tensors and metadata to ``path`` atomically (temp file + fsync + rename)."""
        payload = (self._data.to_dict(), self.slices, self.metadata())
        with atomic_open(path, "wb") as handle:
            torch.save(payload, handle)

    @classmethod
    def load_from(cls, path: os.PathLike | str, transform: Callable | None = None) -> GraphDataset:
        """Read a file written by :meth:`save_to` (of a version in :data:`READABLE_VERSIONS`, kept in
        ``format_version``). Raises on a missing, corrupt or outdated file."""
        data_dict, slices, meta = torch.load(path, weights_only=True)
        if not isinstance(meta, dict) or meta.get("format_version") not in READABLE_VERSIONS:
            raise DataError(f"{path}: written by another version of diffpool's data layer")
        dataset = cls.__new__(cls)
        GraphDataset.__init__(
            dataset,
            None,
            name=meta["name"],
            label_mapping=meta["label_mapping"],
            feature_spec=meta["feature_spec"],
            filtered=meta["filtered"],
            info=meta["info"],
            transform=transform,
        )
        dataset.data = Data.from_dict(data_dict)
        dataset.slices = slices
        dataset.format_version = meta["format_version"]
        return dataset

    def __repr__(self) -> str:
        return f"{self.name}({len(self)})"
