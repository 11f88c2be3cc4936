"""`python -m training.cli`: the `ordershield` command without its script on PATH."""

from training.cli import main

main()
