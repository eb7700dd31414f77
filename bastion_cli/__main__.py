"""``python -m bastion_cli``: the same entry point as the ``bastion`` console script."""

from bastion_cli.main import main

raise SystemExit(main())
