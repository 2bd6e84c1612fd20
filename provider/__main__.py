"""The ha-openstack package's provider: `pulumi package get-schema provider/`, or run by the engine."""
import sys
from pathlib import Path

# The components beside this directory, whichever copy of ha_components pip installed: a
# program using this checkout's provider/ gets this checkout's components.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ha_components.package import serve_package  # noqa: E402

serve_package()
