"""Models: what there is (:mod:`.manifest`), the manager that fetches and checks them
(:mod:`.manager`) and the recipes of the models built here from others (:mod:`.recipes`, imported
only by what builds models, never by the runtime).
"""

from edge_agent.models.manager import PIN_FILE, ModelManager, Problem, Recipe, manager_from_settings
from edge_agent.models.manifest import PACKAGED_MANIFEST, Manifest, ModelFile, ModelSpec

__all__ = ["PACKAGED_MANIFEST", "PIN_FILE", "Manifest", "ModelFile", "ModelManager", "ModelSpec", "Problem",
           "Recipe", "manager_from_settings"]
