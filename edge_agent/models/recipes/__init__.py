"""Recipes of the derived models: what ``edge-agent models pull`` runs to build a model from others.

:data:`RECIPES` maps the manifest's ``derive`` names to the functions; the model manager gets it
from whoever builds models (the ``edge-agent models`` command), so nothing at runtime imports a
recipe or what a recipe needs (onnx, the speech generator, the training loop).
"""

from edge_agent.models.manager import Recipe
from edge_agent.models.recipes import aec3, intent_refs, minilm_onnx, vad_int8, wake_classifier

RECIPES: dict[str, Recipe] = {
    "aec3": aec3.build,
    "intent_refs": intent_refs.build,
    "minilm_onnx": minilm_onnx.build,
    "vad_int8": vad_int8.build,
    "wake_classifier": wake_classifier.build,
}
