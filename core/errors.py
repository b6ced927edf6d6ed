"""The two error types a user can cause; their messages say how to fix the problem."""


class DatasetError(ValueError):
    """Raised for data a user supplied that SeedScope cannot use; the message says how to fix it."""


class ConfigError(ValueError):
    """Raised for a setting SeedScope cannot honour; the message says which values are allowed."""


class BundleError(ValueError):
    """Raised for a file that is not a readable SeedScope bundle; the message says how to get a good one."""
