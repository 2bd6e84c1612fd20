"""The service catalogue is the one source of the OpenStack plane: what it says must agree
with HAProxy's listeners, the projects, the lab image and what the topologies render."""
from __future__ import annotations

import pytest

from ha_components.catalog import (EVERYWHERE, PROJECTS, RETIRED, SERVICES, databases_of, packages_of,
                                   pacemaker_groups, units_of)
from ha_components.models.haproxy import SEED_LISTENERS
from ha_components.render.openstack import service_fragment, unit_defaults
from ha_components.stackfile import load_stack_file

from .helpers import ROOT, STACKS


def test_every_api_has_a_listener_on_its_port_and_a_project():
    for name, service in SERVICES.items():
        assert service.project in PROJECTS, name
        for listener in service.listeners:
            assert listener in SEED_LISTENERS, f"{name}: {listener}"
        if service.port:
            ports = {SEED_LISTENERS[n].backend_port or SEED_LISTENERS[n].port for n in service.listeners}
            assert service.port in ports, f"{name}: no listener forwards to {service.port}"
        for unit in service.units:
            if unit.uwsgi_port:
                assert unit.uwsgi_ini, unit


def test_the_lab_image_prebakes_every_package_of_the_lab_stacks():
    baked = {line.strip() for line in (ROOT / "tools/lab.d/packages").read_text().splitlines()
             if line.strip() and not line.startswith("#")}
    for stack_file in ("Pulumi.lab-aa.yaml", "Pulumi.lab-ap.yaml"):
        services = load_stack_file(STACKS / stack_file).openstack.services
        assert set(packages_of(services)) <= baked, stack_file


def test_nova_has_three_databases_one_user_and_maps_two_cells():
    assert databases_of(["nova-api", "keystone"]) == {
        "nova": "nova", "nova_api": "nova", "nova_cell0": "nova", "keystone": "keystone"}
    steps = PROJECTS["nova"].schema
    assert steps[0] == "nova-manage api_db sync" and steps[-1] == "nova-manage db sync"
    assert any("map_cell0" in s for s in steps) and any("create_cell --name=cell1" in s for s in steps)


def test_golden_nova_fragment_names_every_database_it_syncs():
    text = service_fragment("nova", ["nova-api"], bind_host="10.0.0.1", database_urls={
        ("database", "connection"): "mysql+pymysql://nova:x@vip/nova",
        ("api_database", "connection"): "mysql+pymysql://nova:x@vip/nova_api"},
        transport="rabbit://a:b@h:5672/", auth_url="http://vip:5000/v3", service_password="x", region="R")
    assert "[api_database]\nconnection = mysql+pymysql://nova:x@vip/nova_api\n" in text
    assert "[placement]\n" in text and "[neutron]\n" in text


def test_heat_trustee_has_a_user_but_no_project():
    text = service_fragment("heat", ["heat-engine"], bind_host="10.0.0.1", database_urls={}, transport=None,
                            auth_url="http://vip:5000/v3", service_password="x", region="R")
    trustee = text.split("[trustee]\n", 1)[1].split("\n\n", 1)[0]
    assert "username = heat" in trustee and "project_name" not in trustee


def test_groups_follow_the_seed():
    every = list(SERVICES)
    assert pacemaker_groups(every) == {"g_services_network": ["neutron-l3-agent", "neutron-metadata-agent"],
                                       "g_ceilometer": ["ceilometer-agent-central"]}
    assert [s for s in every if SERVICES[s].group == "network"] == [
        "neutron-linuxbridge-agent", "neutron-dhcp-agent", "neutron-l3-agent", "neutron-metadata-agent"]
    assert all(SERVICES[s].active_active == EVERYWHERE for s in ("neutron-dhcp-agent", "neutron-linuxbridge-agent"))


def test_units_and_packages_of_multi_unit_services():
    assert units_of(["neutron-server", "nova-api"]) == ["neutron-api", "neutron-rpc-server", "nova-api",
                                                        "nova-api-metadata"]
    assert packages_of(["nova-api"]) == ["nova-api"]  # nova-api-metadata ships in nova-api


@pytest.mark.parametrize("service", sorted(RETIRED))
def test_retired_seed_services_are_named_with_what_replaced_them(service):
    from ha_components.models.openstack import OpenStackSpec

    with pytest.raises(ValueError, match=f"no longer part of OpenStack: {service} "):
        OpenStackSpec(api_vip="api", services=["keystone", service], admin_password="x")


def test_every_uwsgi_unit_binds_the_node_address_and_takes_the_worker_count():
    for name, service in SERVICES.items():
        for path, content in unit_defaults(name, "10.0.0.7", 2):
            unit = path.removeprefix("/etc/default/")
            info = next(u for u in service.units if u.defaults_name == unit)
            if info.uwsgi_port:
                assert f"--http-socket 10.0.0.7:{info.uwsgi_port} --ini {info.uwsgi_ini} --processes 2" in content
            else:
                assert "--config-dir=" in content


def test_active_passive_keystone_runs_the_stacks_workers_on_every_address():
    """The kernel tier's keystone loaded the package's 8 uwsgi workers for minutes on one TCG
    vCPU; lab-ap's `workers: 2` reaches /etc/default/keystone (the VIP moves: every address)."""
    from ha_components.topologies.projects import unit_files

    ops = load_stack_file(STACKS / "Pulumi.lab-ap.yaml").openstack
    (keystone,) = [f for f in unit_files(ops, ops.services, None) if f.path == "/etc/default/keystone"]
    assert 'DAEMON_ARGS="--http-socket :5000 --ini /etc/keystone/keystone-uwsgi.ini --processes 2"' in keystone.content


def test_nova_starts_after_placement_whatever_the_stack_order():
    from ha_components.topologies.projects import unit_sets

    sets = unit_sets(["nova-scheduler", "heat-engine", "placement-api"])
    assert [s.name for s in sets] == ["heat", "placement", "nova"]
    assert sets[2].after == ("placement",)


def test_the_l3_agent_brings_netstat_for_its_namespace_cleanup():
    # without net-tools neutron-netns-cleanup --force leaves every router namespace behind
    assert "net-tools" in packages_of(["neutron-l3-agent"])
    assert "net-tools" not in packages_of(["neutron-dhcp-agent", "keystone"])
