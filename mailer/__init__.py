"""Arabic RTL newsletter digests and share-to-friend mail for a news site."""

__version__ = "0.1.0"
