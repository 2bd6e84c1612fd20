package main

import (
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

var remoteKeys = inputKeys[typeRemoteCommand]

func conn(host string) resource.PropertyValue {
	return resource.MakeSecret(resource.NewObjectProperty(resource.PropertyMap{
		"host": resource.NewStringProperty(host), "port": resource.NewNumberProperty(22),
	}))
}

func state() resource.PropertyMap {
	return resource.PropertyMap{
		"connection": conn("a"),
		"create":     resource.NewStringProperty("echo hi"),
		"triggers":   resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("t1")}),
		"stdout":     resource.NewStringProperty("hi"),
		"stderr":     resource.NewStringProperty(""),
	}
}

func inputs() resource.PropertyMap {
	m := state()
	delete(m, "stdout")
	delete(m, "stderr")
	return m
}

func TestDiffNoChangeIgnoresOutputs(t *testing.T) {
	d := diffInputs(remoteKeys, state(), inputs(), nil)
	if d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("want no change, got %v", d)
	}
}

func TestDiffUpdateAndReplace(t *testing.T) {
	news := inputs()
	news["stdin"] = resource.NewStringProperty("x")
	d := diffInputs(remoteKeys, state(), news, nil)
	if d.Changes != pulumirpc.DiffResponse_DIFF_SOME || len(d.Replaces) != 0 ||
		d.DetailedDiff["stdin"].GetKind() != pulumirpc.PropertyDiff_ADD {
		t.Fatalf("want an update adding stdin, got %v", d)
	}
	news = inputs()
	news["triggers"] = resource.NewArrayProperty([]resource.PropertyValue{resource.NewStringProperty("t2")})
	d = diffInputs(remoteKeys, state(), news, nil)
	if len(d.Replaces) != 1 || d.Replaces[0] != "triggers" ||
		d.DetailedDiff["triggers"].GetKind() != pulumirpc.PropertyDiff_UPDATE_REPLACE {
		t.Fatalf("want triggers to replace, got %v", d)
	}
	news = inputs()
	news["connection"] = conn("b")
	d = diffInputs(remoteKeys, state(), news, nil)
	if len(d.Replaces) != 0 || len(d.Diffs) != 1 || d.Diffs[0] != "connection" {
		t.Fatalf("want a connection update (no replace, as upstream 1.2.1), got %v", d)
	}
	news = inputs()
	news["create"] = resource.MakeComputed(resource.NewStringProperty(""))
	if d = diffInputs(remoteKeys, state(), news, nil); d.Changes != pulumirpc.DiffResponse_DIFF_SOME {
		t.Fatalf("an unknown input is a change, got %v", d)
	}
	news = inputs()
	news["stdin"] = resource.NewStringProperty("x")
	if d = diffInputs(remoteKeys, state(), news, []string{"stdin"}); d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("ignoreChanges: want no change, got %v", d)
	}
}

func TestMarshalRoundTripKeepsSecretsAndUnknowns(t *testing.T) {
	m := state()
	m["stdin"] = resource.MakeSecret(resource.NewStringProperty("pw"))
	m["update"] = resource.MakeComputed(resource.NewStringProperty(""))
	s, err := marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !back["stdin"].IsSecret() || !back["connection"].IsSecret() || !back["update"].IsComputed() {
		t.Fatalf("lost secretness or unknownness: %v", back)
	}
	if !back.DeepEquals(m) {
		t.Fatalf("round trip changed the map:\n%v\n%v", m, back)
	}
}

func TestConnectionDefaultsInsideSecret(t *testing.T) {
	v := mapInside(conn("a"), func(m resource.PropertyMap) {
		connectionDefaults(m, "connection", func(p, r string) { t.Fatalf("unexpected failure %s: %s", p, r) })
	})
	if !v.IsSecret() {
		t.Fatal("connection lost its secretness")
	}
	c := v.SecretValue().Element.ObjectValue()
	if c["user"].StringValue() != "root" || c["dialErrorLimit"].NumberValue() != 10 || c["perDialTimeout"].NumberValue() != 15 {
		t.Fatalf("defaults not applied: %v", c)
	}
}
