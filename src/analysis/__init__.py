"""ccpm: contact-center performance-management research toolkit.

The library holds all logic; notebooks in ``notebooks/`` only tell the story.
Layers (lower never import upper)::

    contract / load  ->  panel  ->  models, gaming, synth  ->  compare  ->  report  ->  cli
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
