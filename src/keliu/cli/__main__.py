"""``python -m keliu.cli``: the `keliu` command (the same as the console script)."""

from keliu.cli import main

main()
