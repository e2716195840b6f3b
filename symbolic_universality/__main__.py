"""``python -m symbolic_universality`` is ``symuni``."""

from .cli import main

raise SystemExit(main())
