"""Codec twins: ``_<name>_py.py`` (the reference) and ``_<name>_c.pyx``.

Import codecs through the public selectors (``streamcore.sse`` etc.), not
from here; see STYLE.md, "Twins".
"""
