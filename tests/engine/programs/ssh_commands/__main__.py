"""Engine test program: remote.Command resources run against a real sshd.

Config (set by tests/engine/test_ssh_commands.py):
  host, port, user, privateKey (secret)   where the test's sshd listens
  dir                                      a directory on the target for files/counters
  payload                                  stdin of `writer` (often a secret)
  trigger                                  `writer`'s triggers
  mode                                     "pair" (default), "fail", "closed", "many",
                                           "proxy", "hostKey", "local", "sdk" or "sdk-burst"
  closedPort, count, hostKey               for mode=closed / mode=many (and sdk-burst) / mode=hostKey
  sdkPath                                  for mode=sdk: the directory holding ha_components
"""

import pulumi
import pulumi_command as command

config = pulumi.Config()
mode = config.get("mode") or "pair"
d = config.require("dir")

connection = command.remote.ConnectionArgs(
    host=config.require("host"),
    port=config.require_int("port"),
    user=config.require("user"),
    private_key=config.require_secret("privateKey"),
)

if mode == "pair":
    writer = command.remote.Command(
        "writer",
        connection=connection,
        create=(f"cat > {d}/file.txt && echo \"prev=${{PULUMI_COMMAND_STDOUT:-}}\" >> {d}/writer.log"
                f" && echo run >> {d}/writer.count && echo wrote; echo to-stderr >&2"),
        delete=f"echo \"deleted prev=$PULUMI_COMMAND_STDOUT\" >> {d}/writer.deleted && rm -f {d}/file.txt",
        stdin=config.get_secret("payload") if config.get_bool("secretPayload") else config.get("payload"),
        triggers=[config.get("trigger") or "t1"],
    )
    reader = command.remote.Command(
        "reader",
        connection=connection,
        create=f"echo run >> {d}/reader.count && echo \"greeting=$HA_GREETING\" && wc -c < {d}/file.txt",
        environment={"HA_GREETING": "hello"},
        opts=pulumi.ResourceOptions(depends_on=[writer]),
    )
    pulumi.export("writerStdout", writer.stdout)
    pulumi.export("writerStderr", writer.stderr)
    pulumi.export("readerStdout", reader.stdout)
elif mode == "fail":
    command.remote.Command(
        "failing",
        connection=connection,
        create=f"echo run >> {d}/failing.count; echo 'something broke' >&2; exit 3",
    )
elif mode == "closed":
    command.remote.Command(
        "unreachable",
        connection=command.remote.ConnectionArgs(
            host="127.0.0.1",
            port=config.require_int("closedPort"),
            user="root",
            private_key=config.require_secret("privateKey"),
            dial_error_limit=2,
            per_dial_timeout=2,
        ),
        create="true",
    )
elif mode == "many":
    for i in range(config.require_int("count")):
        command.remote.Command(f"cmd-{i}", connection=connection, create=f"echo {i} >> {d}/many.count")
elif mode == "proxy":
    # The test's sshd is its own bastion: connect to it, then through it to itself.
    command.remote.Command(
        "via-proxy",
        connection=command.remote.ConnectionArgs(
            host="127.0.0.1",
            port=config.require_int("port"),
            user=config.require("user"),
            private_key=config.require_secret("privateKey"),
            proxy=command.remote.ProxyConnectionArgs(
                host=config.require("host"),
                port=config.require_int("port"),
                user=config.require("user"),
                private_key=config.require_secret("privateKey"),
            ),
        ),
        create=f"echo proxied >> {d}/proxy.count && echo proxied",
    )
elif mode == "hostKey":
    command.remote.Command(
        "pinned",
        connection=command.remote.ConnectionArgs(
            host=config.require("host"),
            port=config.require_int("port"),
            user=config.require("user"),
            private_key=config.require_secret("privateKey"),
            host_key=config.require("hostKey"),
            dial_error_limit=0,
        ),
        create=f"echo pinned >> {d}/pinned.count",
    )
elif mode == "local":
    local = command.local.Command(
        "local",
        create=f"cat > {d}/local.txt && echo \"dir=$(pwd) greeting=$HA_GREETING\"",
        delete=f"echo \"deleted prev=$PULUMI_COMMAND_STDOUT\" >> {d}/local.deleted",
        dir=d,
        stdin=config.get("payload"),
        environment={"HA_GREETING": "hi"},
    )
    pulumi.export("localStdout", local.stdout)
elif mode in ("sdk", "sdk-burst"):
    import sys

    sys.path.insert(0, config.require("sdkPath"))  # the checkout under test
    from ha_components import remote
    from ha_components.models import Host

    target = Host(name="target", addresses=["127.0.0.1"], ssh={
        "host": config.require("host"), "port": config.require_int("port"),
        "user": config.require("user"), "private_key": config.require("privateKey"),
        "host_key": [config.get("hostKey")] if config.get("hostKey") else []})
    holder = pulumi.ComponentResource("test:index:Holder", "holder")
    if mode == "sdk-burst":
        # `count` independent commands on one host, each holding its connection a moment:
        # with enough engine parallelism their first dials all arrive at once.
        for i in range(config.require_int("count")):
            remote.run(f"burst-{i}", remote.connect(target), f"sleep 1; echo {i} >> {d}/burst.count", parent=holder)
    else:
        # A unit started by ha_components.remote.run: its delete stops what its create started.
        remote.run("target-unit", remote.connect(target), f"echo start >> {d}/unit.log", parent=holder,
                   triggers=[config.get("trigger") or "t1"], delete=f"echo stop >> {d}/unit.log")
