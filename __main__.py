"""Pulumi program: stack config -> validated model -> the topology it names."""
import pulumi

from ha_components.models import StackConfigError
from ha_components.stackfile import load_from_engine
from ha_components.topologies import build

try:
    stack = load_from_engine()
except StackConfigError as err:
    # One line per problem, each naming the field; no resource is registered.
    raise SystemExit(f"invalid stack configuration:\n{err}") from None

for key, value in build(stack).items():
    pulumi.export(key, value)
