"""The model zoo: ensemble files, releases, recipes and the builder, Hub download/publish.

``degzoo.zoo.load("flipflop", bits=3)`` opens an ensemble of the embedded zoo, which ships inside
the package and works offline; ``release=``/``revision=`` choose a Hub release instead.
"""

from degzoo.zoo.dataset import to_dataset
from degzoo.zoo.ensemble import Ensemble, Network
from degzoo.zoo.format import SCHEMA_VERSION, write_ensemble
from degzoo.zoo.release import Release, embedded_path, load, open_release

__all__ = [
    "SCHEMA_VERSION",
    "Ensemble",
    "Network",
    "Release",
    "embedded_path",
    "load",
    "open_release",
    "to_dataset",
    "write_ensemble",
]
