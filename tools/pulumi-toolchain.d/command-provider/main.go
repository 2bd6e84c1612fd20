// pulumi-resource-command: ha-openstack's own implementation of the
// pulumi-command 1.2.1 resource contract.
//
// The upstream provider (github.com/pulumi/pulumi-command/provider) and its
// framework (github.com/pulumi/pulumi-go-provider) are not served by the Go
// module proxy this project can reach, so this plugin implements the same
// resource contract directly on the sdk/v3 ResourceProvider gRPC interface and
// golang.org/x/crypto/ssh. It answers to the package name "command" at the
// pinned version, so programs written against the pulumi_command SDK run
// unchanged; an operator who has the upstream plugin can install it over this
// one with `pulumi plugin install resource command 1.2.1 --file ...`.
//
// Supported: command:remote:Command (all 1.2.1 inputs, including proxy and
// hostKey) and command:local:Command (without assetPaths/archivePaths).
// Not supported: command:remote:CopyToRemote, command:remote:CopyFile and the
// local:run invoke. See docs/toolchain.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// version is set with -ldflags "-X main.version=..." by tools/pulumi-toolchain
// to the pinned pulumi-command version.
var version = "0.0.0-dev"

// engineLog sends log lines to the Pulumi engine (the host), like upstream's
// logger does. A nil engineLog (no engine address given) drops them.
type engineLog struct {
	mu     sync.Mutex
	client pulumirpc.EngineClient
}

func dialEngine(addr string) (*engineLog, error) {
	if addr == "" {
		return &engineLog{}, nil
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		rpcutil.GrpcChannelOptions())
	if err != nil {
		return nil, fmt.Errorf("connecting to the engine at %s: %w", addr, err)
	}
	return &engineLog{client: pulumirpc.NewEngineClient(conn)}, nil
}

// log sends one message; ephemeral messages are status lines (upstream sends
// command output and dial retries as Info status lines).
func (l *engineLog) log(ctx context.Context, sev pulumirpc.LogSeverity, urn, msg string, ephemeral bool) {
	if l == nil || l.client == nil {
		return
	}
	_, _ = l.client.Log(context.WithoutCancel(ctx), &pulumirpc.LogRequest{
		Severity:  sev,
		Message:   msg,
		Urn:       urn,
		Ephemeral: ephemeral,
	})
}

func main() {
	// Flags the engine passes to every plugin; accepted and ignored.
	// (glog, linked in through the sdk, already defines some of them.)
	for _, name := range []string{"tracing", "logtostderr", "logflow", "v"} {
		if flag.Lookup(name) == nil {
			if name == "tracing" || name == "v" {
				flag.String(name, "", "accepted for compatibility; ignored")
			} else {
				flag.Bool(name, false, "accepted for compatibility; ignored")
			}
		}
	}
	flag.Parse()

	engineAddr := ""
	if args := flag.Args(); len(args) > 0 {
		engineAddr = args[0]
	}
	engine, err := dialEngine(engineAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	prov := newProvider(engine)

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, prov)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "fatal: %v\n", err)
		os.Exit(1)
	}
	prov.pool.closeAll()
}
