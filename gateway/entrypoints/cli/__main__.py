"""`python -m gateway.entrypoints.cli`: the `paygate` command without the installed script."""
from gateway.entrypoints.cli import main

main()
