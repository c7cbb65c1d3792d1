"""``python -m sla_bridge.cli``: the same as the ``sla-bridge`` command."""

from . import main

main()
