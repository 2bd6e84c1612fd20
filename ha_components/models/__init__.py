"""Typed stack configuration (pydantic v2). Imports neither pulumi nor pulumi_command."""
from .base import StrictModel, is_placeholder, secret_placeholder
from .drbd import DrbdVolumeSpec
from .galera import GaleraSpec
from .haproxy import HaproxySpec, Listener, MemcachedSpec
from .hosts import Host, Network, SshEndpoint, Vip, vip_interface
from .openstack import DrbdDatabaseSpec, DrbdMessagingSpec, OpenStackSpec
from .pacemaker import FenceDevice, Fencing, PacemakerSpec
from .rabbitmq import RabbitSpec, RabbitUser
from .stack import Problem, StackConfig, StackConfigError, format_loc, secret_fields, validate_stack

__all__ = [
    "DrbdDatabaseSpec", "DrbdMessagingSpec", "DrbdVolumeSpec", "FenceDevice", "Fencing", "GaleraSpec",
    "HaproxySpec", "Host", "Listener", "MemcachedSpec", "Network", "OpenStackSpec", "RabbitSpec",
    "RabbitUser", "PacemakerSpec", "Problem", "SshEndpoint", "StackConfig",
    "StackConfigError", "StrictModel", "Vip", "format_loc", "is_placeholder", "secret_fields",
    "secret_placeholder", "validate_stack", "vip_interface",
]
