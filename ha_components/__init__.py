"""ha-openstack: Pulumi components for a highly available OpenStack control plane."""
from .drbd import DrbdVolume, DrbdVolumeArgs
from .galera import GaleraCluster, GaleraClusterArgs
from .haproxy import HaproxyFrontend, HaproxyFrontendArgs
from .pacemaker import PacemakerCluster, PacemakerClusterArgs
from .rabbitmq import RabbitHACluster, RabbitHAClusterArgs
from .types import Token
from .vip import Endpoint, OpenStackServiceVip, ServiceVipArgs

__all__ = [
    "DrbdVolume", "DrbdVolumeArgs", "Endpoint", "GaleraCluster", "GaleraClusterArgs", "HaproxyFrontend",
    "HaproxyFrontendArgs", "OpenStackServiceVip", "PacemakerCluster", "PacemakerClusterArgs",
    "RabbitHACluster", "RabbitHAClusterArgs", "ServiceVipArgs", "Token",
]
