"""What is searchable and how: cards, Prefix Hash Trees and MinHash/LSH over BEP 44 items."""

__all__: list[str] = []
