"""`python -m s2s`: the command line (s2s.cli; its docstring and `--help` list the exit
statuses)."""

from s2s.cli import main

raise SystemExit(main())
