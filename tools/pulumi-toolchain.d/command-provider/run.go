package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// runSpec is one command run, whatever the transport.
type runSpec struct {
	urn          string
	command      string
	commandShown string // for error messages: the quoted command, or "[secret command]"
	stdin        string
	env          [][2]string // the resource's environment (errors if the server refuses it)
	prevEnv      [][2]string // PULUMI_COMMAND_STDOUT/STDERR (a warning if refused)
	logStdout    bool
	logStderr    bool
}

// maxErrorOutput bounds the command output repeated in an error message (its tail is kept).
const maxErrorOutput = 32 << 10

// capture collects stdout, stderr and their interleaving, and sends lines of
// the streams selected by `logging` to the engine as Info status lines (as
// upstream does).
type capture struct {
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	combined       bytes.Buffer
	logW           *io.PipeWriter
	logDone        chan struct{}
	logOut, logErr bool
	outW, errW     io.Writer
}

func newCapture(ctx context.Context, p *provider, spec runSpec) *capture {
	c := &capture{logOut: spec.logStdout, logErr: spec.logStderr, logDone: make(chan struct{})}
	r, w := io.Pipe()
	c.logW = w
	go func() {
		defer close(c.logDone)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.engine.log(ctx, pulumirpc.LogSeverity_INFO, spec.urn, sc.Text(), true)
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	c.outW = streamWriter{c, &c.stdout, c.logOut}
	c.errW = streamWriter{c, &c.stderr, c.logErr}
	return c
}

type streamWriter struct {
	c   *capture
	buf *bytes.Buffer
	log bool
}

func (s streamWriter) Write(b []byte) (int, error) {
	s.c.mu.Lock()
	s.buf.Write(b)
	s.c.combined.Write(b)
	s.c.mu.Unlock()
	if s.log {
		_, _ = s.c.logW.Write(b)
	}
	return len(b), nil
}

// finish flushes the log stream; call once the command has ended.
func (c *capture) finish() {
	_ = c.logW.Close()
	<-c.logDone
}

// tail is the combined output for an error message, bounded.
func (c *capture) tail() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.combined.Bytes()
	if len(b) > maxErrorOutput {
		return fmt.Sprintf("[... %d bytes of output omitted ...]\n%s", len(b)-maxErrorOutput, b[len(b)-maxErrorOutput:])
	}
	return string(b)
}
