"""edge-agent: an offline-first voice agent runtime for kiosks and appliances."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("edge-agent")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+unknown"
