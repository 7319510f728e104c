"""brokerplane: the open management plane for brokers (one core, many manager API dialects)."""

__version__ = "0.1.0"
