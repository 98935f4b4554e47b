"""``python -m service.cli``: the ``maillage`` command."""

from service.cli import main

main()
