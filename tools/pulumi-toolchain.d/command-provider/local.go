package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// runLocal runs a command:local:Command on this machine: the interpreter
// (default /bin/sh -c) with the command as last argument, in `dir`, with the
// provider's environment plus `environment`.
func (p *provider) runLocal(ctx context.Context, inputs resource.PropertyMap, spec runSpec) (string, string, error) {
	args := []string{"/bin/sh", "-c"}
	if interp := plain(inputs["interpreter"]); interp.IsArray() && len(interp.ArrayValue()) > 0 {
		args = args[:0]
		for _, a := range interp.ArrayValue() {
			args = append(args, stringOf(a))
		}
	}
	args = append(args, spec.command)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = stringOf(inputs["dir"])
	cmd.Env = os.Environ()
	for _, kv := range append(append([][2]string{}, spec.env...), spec.prevEnv...) {
		cmd.Env = append(cmd.Env, kv[0]+"="+kv[1])
	}
	if spec.stdin != "" {
		cmd.Stdin = strings.NewReader(spec.stdin)
	}
	c := newCapture(ctx, p, spec)
	cmd.Stdout, cmd.Stderr = c.outW, c.errW
	err := cmd.Run()
	c.finish()
	if err != nil {
		return "", "", fmt.Errorf("%w: running %s:\n%s", err, spec.commandShown, c.tail())
	}
	return c.stdout.String(), c.stderr.String(), nil
}
