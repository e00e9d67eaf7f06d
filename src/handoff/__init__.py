"""handoff: closes the loop between a company's CRM and its project delivery."""

__version__ = "0.1.0"
