"""Engine test program: two remote commands and a secret.

Nothing here reaches a host during `pulumi preview`: remote.Command only
connects on create. `pulumi up` is run with `mode=local-only` (no remote
commands at all) or against a closed `port` (the connection must fail).
"""

import pulumi
import pulumi_command as command

config = pulumi.Config()
secret = config.require_secret("dbPassword")
mode = config.get("mode") or "remote"

pulumi.export("secretValue", secret)
pulumi.export("secretLength", secret.apply(len))

if mode == "remote":
    connection = command.remote.ConnectionArgs(
        host="127.0.0.1",
        user="root",
        port=config.get_int("port") or 22,
        dial_error_limit=config.get_int("dialErrorLimit"),
    )
    first = command.remote.Command(
        "first",
        connection=connection,
        create="echo first > /tmp/ha-openstack-engine-test",
    )
    second = command.remote.Command(
        "second",
        connection=connection,
        create="echo \"$DB_PASSWORD\" | wc -c",
        environment={"DB_PASSWORD": secret},
        opts=pulumi.ResourceOptions(depends_on=[first]),
    )
    pulumi.export("secondUrn", second.urn)
