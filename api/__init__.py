"""The node process, its JSON API and web page, and the ``swarmseek`` command line."""

__all__: list[str] = []
