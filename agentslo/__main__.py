"""`python -m agentslo` runs the `agentslo` command."""

from agentslo.cli import main

main()
