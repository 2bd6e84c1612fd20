"""Engine test program: two remote commands and a secret.

Nothing here reaches a host during `pulumi preview`: remote.Command only
connects on create. `pulumi up` is only ever run with `mode=local-only`,
which registers no remote commands at all.
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
        port=22,
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
