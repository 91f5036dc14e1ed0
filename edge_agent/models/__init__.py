"""Models: the manager that fetches and checks them (:mod:`.manager`) and the recipes of the models
built here from others (:mod:`.recipes`, imported only by what builds models, never by the runtime).
"""

from edge_agent.models.manager import (
    PACKAGED_MANIFEST,
    PIN_FILE,
    Manifest,
    ModelFile,
    ModelManager,
    ModelSpec,
    Problem,
    Recipe,
    manager_from_settings,
)

__all__ = ["PACKAGED_MANIFEST", "PIN_FILE", "Manifest", "ModelFile", "ModelManager", "ModelSpec", "Problem",
           "Recipe", "manager_from_settings"]
