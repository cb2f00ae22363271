"""``python -m quality_widgets ...`` runs the ``quality-widgets`` command."""
import sys

from .cli import main

sys.exit(main())
