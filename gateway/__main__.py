"""``python -m gateway``: the same as the ``helpline`` command."""

from gateway.cli import main

raise SystemExit(main())
