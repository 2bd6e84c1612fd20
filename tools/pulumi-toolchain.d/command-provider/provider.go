package main

// The resource lifecycle (Check/Diff/Create/Update/Delete/Read), following
// pulumi-command 1.2.1 as built on pulumi-go-provider's `infer` package:
//
//   - Check applies the schema defaults (connection.user=root, port=22,
//     dialErrorLimit=10, perDialTimeout=15, addPreviousOutputInEnv=true) and
//     keeps every other input (and its secretness) as given.
//   - Diff compares the old state's input fields with the new inputs; a change
//     under `triggers` is a replace, any other change an in-place update.
//     DeleteBeforeReplace is left to the engine (resource option).
//   - Create runs `create` (nothing if unset); Update runs `update`, else
//     `create`; Delete runs `delete` if set. A failing command is an error
//     without properties, so a failed create is not recorded in the state and
//     a failed update keeps the previous state.
//   - Outputs are the inputs (same secretness) plus stdout and stderr, each
//     with one trailing newline trimmed. In preview stdout/stderr are unknown.
//   - Read returns the state as it is.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	typeRemoteCommand = "command:remote:Command"
	typeLocalCommand  = "command:local:Command"
)

// Input property names of each resource type (the schema's inputProperties).
var inputKeys = map[string][]string{
	typeRemoteCommand: {"connection", "environment", "triggers", "create", "update", "delete",
		"stdin", "logging", "addPreviousOutputInEnv"},
	typeLocalCommand: {"environment", "triggers", "create", "update", "delete", "stdin", "logging",
		"addPreviousOutputInEnv", "dir", "interpreter", "assetPaths", "archivePaths"},
}

type provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	engine *engineLog
	pool   *sshPool
	cancel context.CancelFunc
	ctx    context.Context
}

func newProvider(engine *engineLog) *provider {
	ctx, cancel := context.WithCancel(context.Background())
	return &provider{engine: engine, pool: newSSHPool(), ctx: ctx, cancel: cancel}
}

func typeOf(urn string) string {
	return string(resource.URN(urn).Type())
}

func nameOf(urn string) string {
	return resource.URN(urn).Name()
}

func unsupported(urn string) error {
	return status.Errorf(codes.InvalidArgument,
		"ha-openstack's command provider does not implement resource type %q (supported: %s, %s)",
		typeOf(urn), typeRemoteCommand, typeLocalCommand)
}

func (p *provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (p *provider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true}, nil
}

func (p *provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"command","version":%q}`, version)}, nil
}

func (p *provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (p *provider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, status.Errorf(codes.Unimplemented,
		"ha-openstack's command provider does not implement the function %q", req.GetTok())
}

// ---- Check ----------------------------------------------------------------

func (p *provider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	ty := typeOf(req.GetUrn())
	if _, ok := inputKeys[ty]; !ok {
		return nil, unsupported(req.GetUrn())
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	fail := func(prop, reason string) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: prop, Reason: reason})
	}
	setDefault(news, "addPreviousOutputInEnv", resource.NewBoolProperty(true))
	checkLogging(news, fail)
	checkStringMap(news, "environment", fail)
	for _, k := range []string{"create", "update", "delete", "stdin"} {
		checkString(news, k, fail)
	}
	switch ty {
	case typeRemoteCommand:
		conn, ok := news["connection"]
		if !ok || conn.IsNull() {
			fail("connection", "missing required property 'connection'")
			break
		}
		news["connection"] = mapInside(conn, func(m resource.PropertyMap) {
			connectionDefaults(m, "connection", fail)
			if proxy, ok := m["proxy"]; ok && !proxy.IsNull() {
				m["proxy"] = mapInside(proxy, func(pm resource.PropertyMap) {
					connectionDefaults(pm, "connection.proxy", fail)
				})
			}
		})
	case typeLocalCommand:
		for _, k := range []string{"assetPaths", "archivePaths"} {
			if v, ok := news[resource.PropertyKey(k)]; ok && !v.IsNull() {
				fail(k, "not supported by ha-openstack's command provider (the upstream plugin supports it)")
			}
		}
		checkString(news, "dir", fail)
	}
	inputs, err := marshal(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

func setDefault(m resource.PropertyMap, key string, v resource.PropertyValue) {
	if cur, ok := m[resource.PropertyKey(key)]; !ok || cur.IsNull() {
		m[resource.PropertyKey(key)] = v
	}
}

// mapInside applies f to the object inside v (through a secret wrapper), keeping
// v's secretness. Unknown values are left alone.
func mapInside(v resource.PropertyValue, f func(resource.PropertyMap)) resource.PropertyValue {
	switch {
	case v.IsSecret():
		return resource.MakeSecret(mapInside(v.SecretValue().Element, f))
	case v.IsObject():
		m := v.ObjectValue().Copy()
		f(m)
		return resource.NewObjectProperty(m)
	}
	return v
}

func connectionDefaults(m resource.PropertyMap, path string, fail func(string, string)) {
	setDefault(m, "user", resource.NewStringProperty("root"))
	setDefault(m, "port", resource.NewNumberProperty(22))
	setDefault(m, "dialErrorLimit", resource.NewNumberProperty(float64(dialErrorDefault)))
	setDefault(m, "perDialTimeout", resource.NewNumberProperty(15))
	if h, ok := m["host"]; !ok || h.IsNull() {
		fail(path+".host", "missing required property 'host'")
	}
	for _, k := range []string{"host", "user", "password", "privateKey", "privateKeyPassword", "agentSocketPath", "hostKey"} {
		checkString(m, k, func(prop, reason string) { fail(path+"."+prop, reason) })
	}
	for _, k := range []string{"port", "dialErrorLimit", "perDialTimeout"} {
		v := plain(m[resource.PropertyKey(k)])
		if !v.IsNull() && !v.IsComputed() && !v.IsNumber() {
			fail(path+"."+k, fmt.Sprintf("expected a number, got %s", v.TypeString()))
		}
	}
}

func checkString(m resource.PropertyMap, key string, fail func(string, string)) {
	v := plain(m[resource.PropertyKey(key)])
	if !v.IsNull() && !v.IsComputed() && !v.IsString() {
		fail(key, fmt.Sprintf("expected a string, got %s", v.TypeString()))
	}
}

func checkStringMap(m resource.PropertyMap, key string, fail func(string, string)) {
	v := plain(m[resource.PropertyKey(key)])
	if v.IsNull() || v.IsComputed() {
		return
	}
	if !v.IsObject() {
		fail(key, fmt.Sprintf("expected a map of strings, got %s", v.TypeString()))
		return
	}
	for k, e := range v.ObjectValue() {
		e = plain(e)
		if !e.IsNull() && !e.IsComputed() && !e.IsString() {
			fail(key+"."+string(k), fmt.Sprintf("expected a string, got %s", e.TypeString()))
		}
	}
}

func checkLogging(m resource.PropertyMap, fail func(string, string)) {
	v := plain(m["logging"])
	if v.IsNull() || v.IsComputed() {
		return
	}
	if !v.IsString() {
		fail("logging", "expected one of stdout, stderr, stdoutAndStderr, none")
		return
	}
	switch v.StringValue() {
	case "stdout", "stderr", "stdoutAndStderr", "none":
	default:
		fail("logging", fmt.Sprintf("%q is not one of stdout, stderr, stdoutAndStderr, none", v.StringValue()))
	}
}

// plain strips secret wrappers.
func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// ---- Diff -----------------------------------------------------------------

func (p *provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	keys, ok := inputKeys[typeOf(req.GetUrn())]
	if !ok {
		return nil, unsupported(req.GetUrn())
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	return diffInputs(keys, olds, news, req.GetIgnoreChanges()), nil
}

// diffInputs compares the input fields of the old state with the new inputs,
// like pulumi-go-provider's default diff (which upstream uses): any change is
// an update, a change of `triggers` a replace. Changes are reported per
// top-level property.
func diffInputs(keys []string, olds, news resource.PropertyMap, ignore []string) *pulumirpc.DiffResponse {
	news = news.Copy()
	for _, k := range ignore {
		key := resource.PropertyKey(k)
		if v, ok := olds[key]; ok {
			news[key] = v
		} else {
			delete(news, key)
		}
	}
	detailed := map[string]*pulumirpc.PropertyDiff{}
	var replaces, diffs []string
	for _, k := range keys {
		key := resource.PropertyKey(k)
		o, hadOld := olds[key]
		n, hasNew := news[key]
		hadOld = hadOld && !o.IsNull()
		hasNew = hasNew && !n.IsNull()
		var kind pulumirpc.PropertyDiff_Kind
		switch {
		case !hadOld && !hasNew:
			continue
		case !hadOld:
			kind = pulumirpc.PropertyDiff_ADD
		case !hasNew:
			kind = pulumirpc.PropertyDiff_DELETE
		case o.DeepEquals(n) && !n.ContainsUnknowns():
			continue
		default:
			kind = pulumirpc.PropertyDiff_UPDATE
		}
		if k == "triggers" {
			kind = asReplace(kind)
			replaces = append(replaces, k)
		}
		diffs = append(diffs, k)
		detailed[k] = &pulumirpc.PropertyDiff{Kind: kind}
	}
	if len(diffs) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true}
	}
	sort.Strings(diffs)
	return &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_SOME,
		Replaces:        replaces,
		Diffs:           diffs,
		DetailedDiff:    detailed,
		HasDetailedDiff: true,
	}
}

func asReplace(k pulumirpc.PropertyDiff_Kind) pulumirpc.PropertyDiff_Kind {
	switch k {
	case pulumirpc.PropertyDiff_ADD:
		return pulumirpc.PropertyDiff_ADD_REPLACE
	case pulumirpc.PropertyDiff_DELETE:
		return pulumirpc.PropertyDiff_DELETE_REPLACE
	default:
		return pulumirpc.PropertyDiff_UPDATE_REPLACE
	}
}

// ---- Create / Update / Delete / Read ----------------------------------------

func (p *provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	ty := typeOf(req.GetUrn())
	if _, ok := inputKeys[ty]; !ok {
		return nil, unsupported(req.GetUrn())
	}
	inputs, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(nameOf(req.GetUrn()), 8, 0)
	if err != nil {
		return nil, err
	}
	outs := inputs.Copy()
	if req.GetPreview() {
		outs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		outs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
		props, err := marshal(outs)
		return &pulumirpc.CreateResponse{Id: id, Properties: props}, err
	}
	outs["stdout"] = resource.NewStringProperty("")
	outs["stderr"] = resource.NewStringProperty("")
	if cmd := plain(inputs["create"]); cmd.IsString() {
		stdout, stderr, err := p.run(ctx, req.GetUrn(), ty, inputs, inputs["create"], "", "")
		if err != nil {
			return nil, err
		}
		outs["stdout"], outs["stderr"] = resource.NewStringProperty(stdout), resource.NewStringProperty(stderr)
	}
	props, err := marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (p *provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	ty := typeOf(req.GetUrn())
	if _, ok := inputKeys[ty]; !ok {
		return nil, unsupported(req.GetUrn())
	}
	olds, err := unmarshal(req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	outs := news.Copy()
	oldOut, oldErr := stringOf(olds["stdout"]), stringOf(olds["stderr"])
	if req.GetPreview() {
		outs["stdout"] = resource.MakeComputed(resource.NewStringProperty(""))
		outs["stderr"] = resource.MakeComputed(resource.NewStringProperty(""))
		props, err := marshal(outs)
		return &pulumirpc.UpdateResponse{Properties: props}, err
	}
	outs["stdout"], outs["stderr"] = resource.NewStringProperty(oldOut), resource.NewStringProperty(oldErr)
	cmd := news["update"]
	if !plain(cmd).IsString() {
		cmd = news["create"]
	}
	if plain(cmd).IsString() {
		stdout, stderr, err := p.run(ctx, req.GetUrn(), ty, news, cmd, oldOut, oldErr)
		if err != nil {
			return nil, err
		}
		outs["stdout"], outs["stderr"] = resource.NewStringProperty(stdout), resource.NewStringProperty(stderr)
	}
	props, err := marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	ty := typeOf(req.GetUrn())
	if _, ok := inputKeys[ty]; !ok {
		return nil, unsupported(req.GetUrn())
	}
	props, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if plain(props["delete"]).IsString() {
		if _, _, err := p.run(ctx, req.GetUrn(), ty, props, props["delete"],
			stringOf(props["stdout"]), stringOf(props["stderr"])); err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

func (p *provider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancel()
	return &emptypb.Empty{}, nil
}

func stringOf(v resource.PropertyValue) string {
	v = plain(v)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// run executes cmd for the resource (remote over SSH, local with the
// interpreter) and returns stdout and stderr, each with one trailing newline
// trimmed. prevOut/prevErr are exported as PULUMI_COMMAND_STDOUT/STDERR when
// addPreviousOutputInEnv is not false.
func (p *provider) run(ctx context.Context, urn, ty string, inputs resource.PropertyMap,
	cmd resource.PropertyValue, prevOut, prevErr string,
) (string, string, error) {
	// Cancel (engine shutting down) also ends running commands.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-p.ctx.Done():
			stop()
		case <-ctx.Done():
		}
	}()

	spec := runSpec{
		urn:     urn,
		command: stringOf(cmd),
		// A secret command line is not repeated in error messages.
		commandShown: fmt.Sprintf("%q", stringOf(cmd)),
		stdin:        stringOf(inputs["stdin"]),
		logStdout:    true,
		logStderr:    true,
	}
	if cmd.ContainsSecrets() {
		spec.commandShown = "[secret command]"
	}
	switch stringOf(inputs["logging"]) {
	case "stdout":
		spec.logStderr = false
	case "stderr":
		spec.logStdout = false
	case "none":
		spec.logStdout, spec.logStderr = false, false
	}
	if env := plain(inputs["environment"]); env.IsObject() {
		for k, v := range env.ObjectValue() {
			spec.env = append(spec.env, [2]string{string(k), stringOf(v)})
		}
		sort.Slice(spec.env, func(i, j int) bool { return spec.env[i][0] < spec.env[j][0] })
	}
	if add := plain(inputs["addPreviousOutputInEnv"]); !add.IsBool() || add.BoolValue() {
		if prevOut != "" {
			spec.prevEnv = append(spec.prevEnv, [2]string{"PULUMI_COMMAND_STDOUT", prevOut})
		}
		if prevErr != "" {
			spec.prevEnv = append(spec.prevEnv, [2]string{"PULUMI_COMMAND_STDERR", prevErr})
		}
	}
	var stdout, stderr string
	var err error
	switch ty {
	case typeRemoteCommand:
		conn, cerr := parseConnection(inputs["connection"])
		if cerr != nil {
			return "", "", cerr
		}
		stdout, stderr, err = p.runRemote(ctx, conn, spec)
	case typeLocalCommand:
		stdout, stderr, err = p.runLocal(ctx, inputs, spec)
	default:
		return "", "", errors.New("unsupported resource type " + ty)
	}
	if err != nil {
		return "", "", err
	}
	return strings.TrimSuffix(stdout, "\n"), strings.TrimSuffix(stderr, "\n"), nil
}
