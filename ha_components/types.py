"""Type tokens of the public components, in one place for the code and its tests."""
from enum import StrEnum


class Token(StrEnum):
    PACEMAKER_CLUSTER = "ha-openstack:index:PacemakerCluster"
    DRBD_VOLUME = "ha-openstack:index:DrbdVolume"
    OPENSTACK_SERVICE_VIP = "ha-openstack:index:OpenStackServiceVip"
    GALERA_CLUSTER = "ha-openstack:index:GaleraCluster"
    RABBIT_HA_CLUSTER = "ha-openstack:index:RabbitHACluster"
    HAPROXY_FRONTEND = "ha-openstack:index:HaproxyFrontend"
    ACTIVE_ACTIVE_TOPOLOGY = "ha-openstack:index:ActiveActiveTopology"  # the package's topologies
    ACTIVE_PASSIVE_TOPOLOGY = "ha-openstack:index:ActivePassiveTopology"
    REMOTE_COMMAND = "command:remote:Command"
