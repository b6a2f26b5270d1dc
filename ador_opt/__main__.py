"""`python -m ador_opt` runs the CLI."""

from ador_opt.cli import main

main()
