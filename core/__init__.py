"""SeedScope's public API: what the app, the CLI and the tests call."""
from .data import BUILTIN_DATASETS, MAX_CSV_BYTES, Dataset, from_frame, load_builtin, load_csv, read_csv, synthetic
from .errors import ConfigError, DatasetError
from .seeding import SOURCE_HELP, SOURCES
from .training import FAMILIES, MAX_MODELS, History, MLPConfig, Run, RunConfig, TreeConfig, train

__all__ = [
    "BUILTIN_DATASETS", "MAX_CSV_BYTES", "Dataset", "from_frame", "load_builtin", "load_csv", "read_csv",
    "synthetic", "ConfigError", "DatasetError", "SOURCE_HELP", "SOURCES", "FAMILIES", "MAX_MODELS",
    "History", "MLPConfig", "Run", "RunConfig", "TreeConfig", "train",
]
