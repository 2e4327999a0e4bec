"""`python -m leadcli` runs the same entry point as the `leadcli` executable."""

from leadcli.cli import main

main()
