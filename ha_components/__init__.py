"""ha-openstack: Pulumi components for a highly available OpenStack control plane."""
from .drbd import DrbdVolume, DrbdVolumeArgs
from .pacemaker import PacemakerCluster, PacemakerClusterArgs
from .types import Token
from .vip import Endpoint, OpenStackServiceVip, ServiceVipArgs

__all__ = [
    "DrbdVolume", "DrbdVolumeArgs", "Endpoint", "OpenStackServiceVip", "PacemakerCluster",
    "PacemakerClusterArgs", "ServiceVipArgs", "Token",
]
