"""The Mainline DHT node (BEP 5, 42, 43, 44) that routes queries and stores the index."""

__all__: list[str] = []
