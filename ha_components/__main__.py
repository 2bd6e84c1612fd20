"""`python -m ha_components validate|render|diagram STACKFILE`, `schema`: the offline tools."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .models import StackConfigError
from .stackfile import load_stack_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ha_components")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("validate", help="check a stack file; touches no host, needs no Pulumi CLI")
    check.add_argument("stack_file", type=Path)
    show = sub.add_parser("render", help="write every file and command the stack would push")
    show.add_argument("stack_file", type=Path)
    show.add_argument("--out", type=Path, required=True)
    recover = sub.add_parser("galera-recover", help="restart Galera after a full shutdown "
                             "(highest seqno bootstraps, the others join one at a time)")
    recover.add_argument("stack_file", type=Path)
    recover.add_argument("--yes", action="store_true", help="apply the plan (default: show it)")
    recover.add_argument("--bootstrap", metavar="NODE", help="bootstrap this node, whatever the seqnos")
    keys = sub.add_parser("host-keys", help="print the hosts' SSH keys and fingerprints (ssh-keyscan) "
                          "to verify out of band; --write pins them in the stack file")
    keys.add_argument("stack_file", type=Path)
    keys.add_argument("--write", action="store_true", help="set hosts[].ssh.host_key in the stack file")
    sub.add_parser("schema", help="print the JSON Schema of stack files (schema/stack.schema.json)")
    picture = sub.add_parser("diagram", help="draw the stack's topology (Graphviz)")
    picture.add_argument("stack_file", type=Path)
    picture.add_argument("--out", type=Path, required=True, help="file.svg, file.png or file.dot")
    args = parser.parse_args(argv)

    if args.command == "host-keys":
        return host_keys(args.stack_file, args.write)
    if args.command == "schema":
        from .schema import schema_text

        sys.stdout.write(schema_text())
        return 0

    try:
        stack = load_stack_file(args.stack_file)
    except StackConfigError as err:
        for problem in err.problems:
            print(f"{args.stack_file}: {problem}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as err:
        print(f"{args.stack_file}: {err}", file=sys.stderr)
        return 1
    if args.command == "validate":
        print(f"{args.stack_file}: ok ({stack.topology}, {len(stack.hosts)} hosts)")
        return 0
    if args.command == "diagram":
        from .diagram import DiagramError, write_diagram

        try:
            title = args.stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
            write_diagram(stack, args.out, title)
        except DiagramError as err:
            print(f"diagram: {err}", file=sys.stderr)
            return 1
        print(f"wrote {args.out}")
        return 0
    if args.command == "galera-recover":
        from .galera_recover import RecoveryError, recover

        try:
            recover(stack, apply=args.yes, bootstrap=args.bootstrap)
        except RecoveryError as err:
            print(f"galera-recover: {err}", file=sys.stderr)
            return 1
        return 0
    from .dryrun import render_stack  # imports pulumi: only for render

    written = render_stack(stack, args.out)
    print(f"wrote {written} files under {args.out}")
    return 0


def host_keys(path: Path, write: bool) -> int:
    """Keys are collected before the stack is complete: a stack lacking them still loads here."""
    from .hostkeys import HostKeyError, collect, write_keys
    from .models import validate_stack
    from .stackfile import config_from_stack_file

    try:
        data = config_from_stack_file(path)
        for host in data.get("hosts") or []:  # scanning needs no pinned key yet
            if isinstance(host, dict) and isinstance(host.get("ssh"), dict) and not host["ssh"].get("host_key"):
                host["ssh"] = {**host["ssh"], "insecure_skip_host_key": True,
                               "insecure_skip_host_key_reason": "collecting keys"}
        stack = validate_stack(data)
        found = collect(stack)
        if write:
            path.write_text(write_keys(path, stack, found))
            load_stack_file(path)  # what was written parses and validates
            print(f"{path}: host_key written for {len(found)} hosts")
    except StackConfigError as err:
        for problem in err.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        return 1
    except (OSError, ValueError, HostKeyError) as err:
        print(f"{path}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
