"""Another component as an input: a PacemakerCluster or DrbdVolume that a served component uses.

Pulumi's Python component host (pulumi 3.259.0) cannot take a component of this package as an
input: it types a resource input only for a resource of *another* package that has a generated
SDK (the class's `pulumi_type` and the SDK's pulumi-plugin.json; pulumi/pulumi#18484 is open),
and a reference reaches `construct` as a URN string, not as the Python object that built the
cluster. So a dependent component takes the referenced component's URN (`${cluster.urn}`), for
the dependency, and the data it was given (`spec`, `hosts`), and rebuilds what it uses of it:
the nodes' connections, the CIB node, the recovery policy, the clone and filesystem ids.
Depending on a remote component is depending on all its children (its construct returns after
them), so the commands here wait for the cluster's `ready` and its base CIB change as in Python.
"""
from typing import Any

from pulumi.resource import DependencyResource
from pulumi.urn import _parse_urn

from .. import remote
from ..drbd import DrbdStorage
from ..models import DrbdVolumeSpec, Host, PacemakerSpec, StackConfigError
from ..models.stack import Problem
from ..pacemaker import CibCluster
from ..render.drbd_cib import drbd_ids, filesystem_primitive
from ..types import Token
from .args import to_model

Loc = tuple[str | int, ...]


def cluster_of(ref: Any, loc: Loc) -> CibCluster:
    """The cluster `ref` (a PacemakerClusterRef's values) names, as the SDK's components use it.
    Every check comes before the first Output: a failed one leaves nothing pending on the loop."""
    _check_urn(ref, Token.PACEMAKER_CLUSTER, loc)
    spec = to_model(PacemakerSpec, ref["spec"], (*loc, "spec"))
    hosts = [to_model(Host, h, (*loc, "hosts", i)) for i, h in enumerate(ref["hosts"])]
    if [h.name for h in hosts] != spec.nodes:
        raise StackConfigError([Problem((*loc, "hosts"), f"the hosts {[h.name for h in hosts]} are not "
                                        f"the cluster's nodes {spec.nodes}, in that order")])
    return CibCluster(spec, [remote.connect(h) for h in hosts], DependencyResource(ref["urn"]))


def storage_of(ref: Any, loc: Loc) -> DrbdStorage:
    """What a service group uses of the DrbdVolume `ref` names."""
    _check_urn(ref, Token.DRBD_VOLUME, loc)
    spec = to_model(DrbdVolumeSpec, ref["spec"], (*loc, "spec"))
    return DrbdStorage(filesystem_primitive(spec), drbd_ids(spec)["clone"], DependencyResource(ref["urn"]))


def _check_urn(ref: Any, token: Token, loc: Loc) -> None:
    """An error unless `ref["urn"]` is the URN of a `token` component."""
    urn = ref["urn"]
    try:
        typ = _parse_urn(urn).typ
    except Exception:  # noqa: BLE001 - _parse_urn raises ValueError or IndexError on a malformed URN
        typ = None
    if typ != token:
        raise StackConfigError([Problem((*loc, "urn"), f"{urn!r} is not the URN of a {token.value.rsplit(':', 1)[-1]}")])
