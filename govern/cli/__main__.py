"""`python -m govern.cli`: the same as the `govern` console script."""

from govern.cli.root import main

main()
