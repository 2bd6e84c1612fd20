# Entry points named in the README. Everything runs as root on a machine like CI's. Lab
# targets take the lab lock: the tier-1 lab is one per host and may be shared.
LAB_LOCK ?= /run/ha-openstack-lab.lock
PYTEST ?= python3 -m pytest -p no:cacheprovider
.PHONY: demo test bench drills drills-kernel lab-kernel-test

demo:  ## deps, engine toolchain, lab, `pulumi up` of the lab-aa stack, its outputs
	tools/demo

test:  ## what CI runs
	bash .ci/run

bench:  ## issue 7 benchmarks: engine cost without hosts, lab-aa cost and its SSH floor; rewrites BENCHMARKS.md (~10 min + waiting for the lab lock)
	tools/pulumi-toolchain install
	flock $(LAB_LOCK) tools/lab up
	tools/bench --lab --repeat 5

# Issue 6 fault drills on the tier-1 lab (~20 min): deploy lab-aa, power off, isolate and
# crash parts of it under client load; issue 17's day two (~20 min): grow lab-aa to five
# controllers and replace a wiped one under client load. Ends with the summary table.
drills:
	flock $(LAB_LOCK) $(PYTEST) -m drills -rA tests/lab

# Issue 6 fault drills on the kernel tier (active/passive on DRBD; ~20 min under TCG on a quiet host):
# deploy lab-ap, power off the node running the MySQL group, then the RabbitMQ group, under
# client load; the same summary table. `-m drills` alone leaves these out (conftest.py).
drills-kernel:
	tools/lab --kernel up
	$(PYTEST) -m "drills and kernel" -rA tests/lab

# The lab's kernel tier (QEMU guests with their own kernel, for DRBD; docs/lab.md):
# bring it up (builds its image the first time) and run its tests (~30 min under TCG).
lab-kernel-test:
	tools/lab --kernel up
	$(PYTEST) -m kernel tests/lab
