"""symbolic_universality: the universality of gradient descent training, executable and checked.

If an algorithm finds weights for a network, an extension of that network reproduces
them, and the network's forward output, by plain gradient descent. This package
builds that extension, derives its GD update rules exactly and checks them.
"""

__version__ = "0.1.0"
