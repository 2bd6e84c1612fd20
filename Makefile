# Entry points named in the README. Everything runs as root on a machine like CI's.
.PHONY: demo test bench lab-kernel-test

demo:  ## deps, engine toolchain, lab, `pulumi up` of the lab-aa stack, its outputs
	tools/demo

test:  ## what CI runs
	bash .ci/run

bench:  ## issue 7 benchmarks: engine cost without hosts, lab-aa cost and its SSH floor; rewrites BENCHMARKS.md (~10 min + waiting for the lab lock)
	tools/pulumi-toolchain install
	flock /run/ha-openstack-lab.lock tools/lab up
	tools/bench --lab --repeat 5

# The lab's kernel tier (QEMU guests with their own kernel, for DRBD; docs/lab.md):
# bring it up (builds its image the first time) and run its tests (~30 min under TCG).
lab-kernel-test:
	tools/lab --kernel up
	python3 -m pytest -m kernel tests/lab
