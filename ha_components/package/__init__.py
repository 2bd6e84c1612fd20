"""ha-openstack as a Pulumi package: the components for programs in any Pulumi language.

`provider/` (PulumiPlugin.yaml, runtime python) serves them through Pulumi's component
provider host; a YAML or TypeScript program names the directory in its `packages:`.
Python programs import `ha_components` directly and need none of this (docs/package.md).
"""
from importlib.metadata import PackageNotFoundError, version

from .components import COMPONENTS
from .host import serve


def serve_package() -> None:
    """Run the package's provider (what provider/__main__.py does)."""
    try:
        ours = version("ha-openstack")
    except PackageNotFoundError:  # a checkout that is not pip-installed
        ours = "0.1.0"
    serve(COMPONENTS, ours)


__all__ = ["COMPONENTS", "serve_package"]
