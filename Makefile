# Developer targets. Each one is self-contained; lab targets take the lab lock (the tier-1
# lab is one per host and may be shared).
LAB_LOCK ?= /run/ha-openstack-lab.lock
PYTEST ?= python3 -m pytest -p no:cacheprovider

.PHONY: drills
# Fault drills (issue 6) on the tier-1 lab: deploy lab-aa, then power off, isolate and
# crash parts of it under client load; ends with the summary table. Root, lab, toolchain.
drills:
	flock $(LAB_LOCK) $(PYTEST) -m drills -rA tests/lab
