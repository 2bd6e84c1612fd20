# Shortcuts for the commands the docs describe; run as root from the repository root.
.PHONY: lab-kernel-test

# The lab's kernel tier (QEMU guests with their own kernel, for DRBD; docs/lab.md):
# bring it up (builds its image the first time) and run its tests.
lab-kernel-test:
	tools/lab --kernel up
	python3 -m pytest -m kernel tests/lab
