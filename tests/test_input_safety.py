"""Values that reach URLs, INI files and shell: encoded, quoted or refused, each by its field."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import pytest

from ha_components.render import render_template
from ha_components.render.openstack import admin_openrc, service_fragment, sqlalchemy_url, transport_url

from .test_config import assert_problem, edited

NASTY_PASSWORD = "p@ss/w:rd#?%$'x"

# SQLAlchemy's URL pattern (sqlalchemy/engine/url.py, _parse_url): user up to ':', password up
# to the first '@', then host; the parts are unquoted afterwards.
SQLALCHEMY_URL = re.compile(r"^(?P<name>[\w\+]+)://(?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?"
                            r"(?:(?P<ipv4>[^/:\?]+)(?::(?P<port>[^/\?]*))?)?(?:/(?P<database>[^\?]*))?$")


def test_database_url_percent_encodes_the_password() -> None:
    url = sqlalchemy_url("nova", NASTY_PASSWORD, "10.77.1.110")
    parts = SQLALCHEMY_URL.match(url)
    assert parts, url
    assert unquote(parts["password"]) == NASTY_PASSWORD
    assert parts["ipv4"] == "10.77.1.110" and parts["database"] == "nova"
    assert "$" not in url  # nothing for oslo.config's $substitution


def test_transport_url_percent_encodes_every_broker_password() -> None:
    url = transport_url("openstack", NASTY_PASSWORD, ["10.77.1.11", "10.77.1.12"], 5672)
    body = url.removeprefix("rabbit://")
    brokers = body.rstrip("/").split(",")
    assert len(brokers) == 2
    for broker, host in zip(brokers, ["10.77.1.11", "10.77.1.12"]):
        # oslo.messaging's TransportURL.parse: urlsplit per host, then unquote
        parts = urlsplit(f"rabbit://{broker}/")
        assert (unquote(parts.username or ""), unquote(parts.password or "")) == ("openstack", NASTY_PASSWORD)
        assert (parts.hostname, parts.port) == (host, 5672)


def test_service_password_in_ini_is_not_substituted() -> None:
    text = service_fragment("glance", ["glance-api"], bind_host="10.77.1.11", database_urls={}, transport=None,
                            auth_url="http://10.77.1.110:5000/v3", service_password=NASTY_PASSWORD,
                            region="RegionOne")
    line = next(x for x in text.splitlines() if x.startswith("password = "))
    # oslo.config reads `$$` as one `$`; every other character is literal up to the line's end.
    assert line.removeprefix("password = ").replace("$$", "$") == NASTY_PASSWORD


def test_admin_openrc_is_shell_safe(tmp_path: Path) -> None:
    rc = tmp_path / "openrc"
    rc.write_text(admin_openrc(NASTY_PASSWORD, "http://10.77.1.110:5000/v3", "RegionOne"))
    out = subprocess.run(["bash", "-c", f'. {rc}; printf "%s\\n" "$OS_PASSWORD" "$OS_REGION_NAME"'],
                         capture_output=True, text=True, check=True).stdout
    assert out == f"{NASTY_PASSWORD}\nRegionOne\n"


def test_package_names_are_quoted_in_the_script() -> None:
    script = render_template("scripts/packages.sh.j2", packages=["corosync", "a$(b)"], disable_units=[])
    assert "for pkg in corosync 'a$(b)' ;" in script


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        node = data
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
        node[path[-1]] = value
    return edit


@pytest.mark.parametrize("path, value, field", [
    (["openstack", "region"], "Region One", "openstack.region"),
    (["openstack", "region"], "r\n[DEFAULT]", "openstack.region"),
    (["openstack", "public_endpoint_host"], "api/evil", "openstack.public_endpoint_host"),
    (["pacemaker", "packages"], ["corosync", "x; reboot"], "pacemaker.packages[1]"),
    (["openstack", "settings"], {"keystone": {"cache": {"backend": "a\nenabled = false"}}},
     "openstack.settings.keystone.cache.backend"),
    (["openstack", "settings"], {"keystone": {"x]\n[DEFAULT": {"a": "b"}}},
     'openstack.settings.keystone["x]\\n[DEFAULT"]'),
    (["pacemaker", "properties"], {"stonith-timeout": "60s\u0000"}, "pacemaker.properties.stonith-timeout"),
    (["hosts", 0, "ssh", "host"], "-oProxyCommand=reboot", "hosts[0].ssh.host"),
    (["hosts", 0, "ssh", "user"], "root@evil", "hosts[0].ssh.user"),
    (["vips", 0, "nic"], "eth0 ; reboot", "vips[0].nic"),
    (["messaging", "user"], "open stack", "messaging.user"),
])
def test_free_text_that_reaches_files_or_shell_is_validated(path: list[Any], value: Any, field: str) -> None:
    assert_problem(edited(_set(path, value)), field)


@pytest.mark.parametrize("password", ["", " leading", "two\nlines"])
def test_service_passwords_are_one_line(password: str) -> None:
    assert_problem(edited(_set(["openstack", "service_passwords", "keystone"], password)),
                   "openstack.service_passwords.keystone", "must")


def test_nasty_password_is_accepted() -> None:
    from ha_components.models import validate_stack

    from .helpers import _fill_secrets
    data = _fill_secrets(edited(_set(["openstack", "service_passwords", "keystone"], NASTY_PASSWORD)))
    validate_stack(data)


def test_bad_mapping_key_names_the_key() -> None:
    assert_problem(edited(_set(["openstack", "service_passwords", "Not A Name"], "x")),
                   'openstack.service_passwords["Not A Name"]', "key: ")
