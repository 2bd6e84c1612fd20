# Entry points named in the README. Everything runs as root on a machine like CI's.
.PHONY: demo test
demo:  ## deps, engine toolchain, lab, `pulumi up` of the lab-aa stack, its outputs
	tools/demo
test:  ## what CI runs
	bash .ci/run
