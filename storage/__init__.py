"""Storage: the only code that knows TinyDB and the data files (see docs/architecture.md).

- :class:`StateStore`: ``state.json`` as TinyDB tables, each save one atomic file write.
- :class:`CandleLog`: ``candles/YYYY-MM-DD/<token>_<interval>m.jsonl``, read side and paths.
- :class:`StorageWriter`: the single writer thread; the engine only enqueues to it.
- :class:`Journal`: ``journal/YYYY-MM.jsonl``, every closed trade and day summary, appended.
- :class:`DataFileError`: a data file that cannot be used, its message starting with the path.
"""

from storage.atomic import AtomicJSONStorage, StorageFileCorrupt, atomic_write_bytes
from storage.candles import CandleFileRead, CandleLog
from storage.errors import DataFileError
from storage.journal import Journal
from storage.plainjson import NotPlainJSON, check_plain_json
from storage.state import StateFileCorrupt, StateSnapshot, StateStore
from storage.writer import StorageWriter, WriterStats

__all__ = [
    "AtomicJSONStorage",
    "CandleFileRead",
    "CandleLog",
    "DataFileError",
    "Journal",
    "NotPlainJSON",
    "StateFileCorrupt",
    "StateSnapshot",
    "StateStore",
    "StorageFileCorrupt",
    "StorageWriter",
    "WriterStats",
    "atomic_write_bytes",
    "check_plain_json",
]
