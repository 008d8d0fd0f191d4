"""autoresearch-tui: an agent proposes code changes; the harness measures and decides."""

__version__ = "0.1.0"
