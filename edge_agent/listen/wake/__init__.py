"""Wake word detection: one small interface (:mod:`.base`), one module per engine (:mod:`.micro`,
:mod:`.open`, :mod:`.porcupine`), the second stage that confirms a candidate (:mod:`.verified`,
:mod:`.verifier`, :mod:`.spelling`, :mod:`.classifier`) and the factory that builds what the
settings describe (:mod:`.factory`). Dependencies point one way: everything imports ``base``; only
the factory imports the engines and verifiers; nothing here imports the factory or this package.
"""

from edge_agent.listen.wake.base import Detection, WakeWordDetector
from edge_agent.listen.wake.factory import build_wake_detector

__all__ = ["Detection", "WakeWordDetector", "build_wake_detector"]
