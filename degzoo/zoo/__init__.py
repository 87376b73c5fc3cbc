"""The model zoo: ensemble files, releases, Hub download/publish, the embedded zoo."""

from degzoo.zoo.ensemble import Ensemble, Network
from degzoo.zoo.format import SCHEMA_VERSION, write_ensemble

__all__ = ["SCHEMA_VERSION", "Ensemble", "Network", "write_ensemble"]
