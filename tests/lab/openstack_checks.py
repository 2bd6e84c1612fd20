"""Checks of the OpenStack plane on a deployed lab stack, with openstacksdk from the lab host
through the API VIP (the stack's keystone_url), and Pacemaker's view from ctl1."""
from __future__ import annotations

import time
from typing import Any, Callable

import openstack
from openstack.connection import Connection

from .conftest import NODES, on
from .deploy import OPENRC
from .drills import crm_mon, resource_node, until

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
    """probe() once it returns `want`; fails naming `what` and the last value."""
    last: list[Any] = [None]

    def done() -> bool:
        last[0] = probe()
        return last[0] == want

    if until(done, timeout, interval=every) is None:
        raise AssertionError(f"{what}: still {last[0]!r} after {timeout:.0f}s (want {want!r})")
    return last[0]


def group_node(resource: str, nodes: list[str] = NODES) -> str | None:
    """The node running a Pacemaker primitive, asked of the first of `nodes` that answers."""
    return resource_node(crm_mon(nodes), resource)


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


def router_answers(router_id: str, address: str, network_id: str, nodes: list[str] = NODES,
                   host: str | None = None, timeout: float = 240) -> float:
    """Seconds until the router's namespace exists (on `host` when given) and its tenant address
    answers a ping from the DHCP namespace of each of `nodes` (across the lab bridge, VXLAN)."""
    t0 = time.monotonic()

    def hosted() -> bool:
        return any(f"qrouter-{router_id}" in on(n, "ip netns list", check=False).stdout
                   for n in ([host] if host else nodes))

    wait_until(hosted, True, f"qrouter-{router_id} exists on {host or nodes}", timeout)
    for n in nodes:
        wait_until(lambda n=n: on(n, f"ip netns exec qdhcp-{network_id} ping -c1 -W1 {address}",
                                  check=False).returncode == 0, True,
                   f"{address} answers in qdhcp-{network_id} on {n}", max(timeout - (time.monotonic() - t0), 1),
                   every=1)
    return time.monotonic() - t0
