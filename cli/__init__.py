"""The ``fraudlab`` command: above ``cloud/``, ``tui/`` and ``labs/``; it may import all three."""
