"""`python -m service.cli`: the `ordershield` command without its script on PATH."""

from service.cli import main

main()
