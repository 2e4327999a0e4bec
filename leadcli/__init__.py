"""leadcli: a command-line lead manager for sales-ops teams."""

__version__ = "0.1.0"
