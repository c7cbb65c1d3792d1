"""sla-bridge: a support contract's service levels, enforced on the trackers teams already use."""

__version__ = "0.1.0"
