"""Tools around the dfc codec: peer codecs for comparisons (``dfc compare``)."""
