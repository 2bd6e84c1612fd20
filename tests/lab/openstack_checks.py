"""Checks of the OpenStack plane on a deployed lab stack, with openstacksdk from the lab host
through the API VIP (the stack's keystone_url), and Pacemaker's view from ctl1."""
from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any, Callable

import openstack
from openstack.connection import Connection

from .conftest import NODES, on
from .deploy import OPENRC

VIP = "10.77.1.110"
# The lab's flat provider network (provider_interface: provider0) and a tenant VXLAN network.
PROVIDER_CIDR, PROVIDER_GATEWAY = "203.0.113.0/24", "203.0.113.1"
TENANT_CIDR, TENANT_GATEWAY = "192.168.77.0/24", "192.168.77.1"


def openstack_cloud(kernel: bool = False) -> Connection:
    """The stack's admin, with the password of ctl1's openrc, through the VIP."""
    password = on("ctl1", f". {OPENRC} && printf %s \"$OS_PASSWORD\"", kernel=kernel).stdout
    region = on("ctl1", f". {OPENRC} && printf %s \"$OS_REGION_NAME\"", kernel=kernel).stdout
    return openstack.connect(auth_url=f"http://{VIP}:5000/v3", username="admin", password=password,
                             project_name="admin", user_domain_name="Default", project_domain_name="Default",
                             region_name=region, interface="public", api_timeout=60)


def wait_until(probe: Callable[[], Any], want: Any, what: str, timeout: float = 180, every: float = 2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {got!r} after {timeout:.0f}s (want {want!r})")
        time.sleep(every)


def resource_node(resource: str) -> str | None:
    """The node a Pacemaker primitive runs on (crm_mon on ctl1), None when stopped."""
    mon = ET.fromstring(on("ctl1", "crm_mon -1 --output-as=xml").stdout)
    for r in mon.iter("resource"):
        if r.get("id") == resource and r.get("role") == "Started":
            node = r.find("node")
            return node.get("name") if node is not None else None
    return None


def wait_for_agents(cloud: Connection, timeout: float = 240) -> list[Any]:
    """Neutron's agents once L2 and DHCP report alive on every controller (they start with the
    controllers and report every 5 s)."""
    def alive() -> list[str]:
        return sorted(f"{a.agent_type}@{a.host}" for a in cloud.network.agents() if a.is_alive and
                      a.agent_type in ("Linux bridge agent", "DHCP agent"))
    want = sorted(f"{k}@{n}" for k in ("Linux bridge agent", "DHCP agent") for n in NODES)
    wait_until(alive, want, "L2 and DHCP agents alive on every controller", timeout)
    return list(cloud.network.agents())


def router_with_tenant_network(cloud: Connection) -> tuple[str, str, str]:
    """A provider network, a tenant network with a subnet, and a router between them (created
    once, found again on a later call): (router id, its tenant address, tenant network id)."""
    provider = cloud.network.find_network("ha-e2e-provider") or cloud.network.create_network(
        name="ha-e2e-provider", provider_network_type="flat", provider_physical_network="provider",
        is_router_external=True)
    if not list(cloud.network.subnets(network_id=provider.id)):
        cloud.network.create_subnet(network_id=provider.id, name="ha-e2e-provider", ip_version=4,
                                    cidr=PROVIDER_CIDR, gateway_ip=PROVIDER_GATEWAY, is_dhcp_enabled=False)
    tenant = cloud.network.find_network("ha-e2e-tenant") or cloud.network.create_network(name="ha-e2e-tenant")
    subnet = next(iter(cloud.network.subnets(network_id=tenant.id)), None) or cloud.network.create_subnet(
        network_id=tenant.id, name="ha-e2e-tenant", ip_version=4, cidr=TENANT_CIDR, gateway_ip=TENANT_GATEWAY)
    router = cloud.network.find_router("ha-e2e-router")
    if router is None:
        router = cloud.network.create_router(name="ha-e2e-router",
                                             external_gateway_info={"network_id": provider.id})
        cloud.network.add_interface_to_router(router, subnet_id=subnet.id)
    return router.id, TENANT_GATEWAY, tenant.id


def router_answers_from_every_dhcp_namespace(router_id: str, address: str, network_id: str,
                                             host: str | None = None, timeout: float = 240) -> float:
    """Seconds until the router's namespace exists on `host` (any node if None) and its tenant
    address answers a ping from the DHCP namespace of every controller (over VXLAN)."""
    t0 = time.monotonic()

    def hosted() -> str | None:
        for n in ([host] if host else NODES):
            if f"qrouter-{router_id}" in on(n, "ip netns list").stdout:
                return n
        return None

    where = wait_until(lambda: hosted() is not None, True, f"qrouter-{router_id} exists", timeout)
    del where
    for n in NODES:
        wait_until(lambda n=n: on(n, f"ip netns exec qdhcp-{network_id} ping -c1 -W1 {address}",
                                  check=False).returncode == 0, True,
                   f"{address} answers in qdhcp-{network_id} on {n}", timeout - (time.monotonic() - t0), every=1)
    return time.monotonic() - t0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
