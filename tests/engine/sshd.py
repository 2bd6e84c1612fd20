"""A throwaway OpenSSH server on 127.0.0.1 for engine tests of remote commands.

``Sshd.start(tmp)`` writes a temporary host key, an ed25519 client key with
its authorized_keys and an sshd_config into ``tmp``, and runs
``/usr/sbin/sshd -D -e -f <config> -p <free port>`` as the current user (root
in CI). Variables named ``HA_*`` are accepted from clients (AcceptEnv), the
rest are refused silently, as a stock sshd does. Needs the Debian package
``openssh-server`` (.ci/run installs it); a missing sshd fails the test with
that hint, it never skips.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    host: str
    port: int
    user: str
    private_key: str
    host_public_key: str
    dir: Path
    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, tmp: Path) -> "Sshd":
        if not os.path.exists(SSHD) or not shutil.which("ssh-keygen"):
            pytest.fail(f"{SSHD} or ssh-keygen is missing: apt-get install openssh-server", pytrace=False)
        tmp.mkdir(parents=True, exist_ok=True)
        for name in ("host_key", "client_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(tmp / name)],
                           check=True)
        (tmp / "authorized_keys").write_text((tmp / "client_key.pub").read_text())
        os.chmod(tmp / "authorized_keys", 0o600)
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        config = tmp / "sshd_config"
        config.write_text(
            "\n".join(
                [
                    "ListenAddress 127.0.0.1",
                    f"HostKey {tmp / 'host_key'}",
                    f"PidFile {tmp / 'sshd.pid'}",
                    f"AuthorizedKeysFile {tmp / 'authorized_keys'}",
                    "PermitRootLogin prohibit-password",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "AcceptEnv HA_* PULUMI_COMMAND_*",
                    "LogLevel INFO",
                    "",
                ]
            )
        )
        log = tmp / "sshd.log"
        last_err = ""
        for _ in range(5):
            port = free_port()
            with open(log, "ab") as out:
                proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config), "-p", str(port)],
                                        stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                        if s.recv(4).startswith(b"SSH-"):
                            return cls(
                                host="127.0.0.1",
                                port=port,
                                user=getpass.getuser(),
                                private_key=(tmp / "client_key").read_text(),
                                host_public_key=(tmp / "host_key.pub").read_text().strip(),
                                dir=tmp,
                                proc=proc,
                                log=log,
                            )
                except OSError:
                    time.sleep(0.05)
            proc.kill()
            proc.wait()
            last_err = log.read_text(errors="replace")
        pytest.fail(f"sshd did not start:\n{last_err}", pytrace=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
