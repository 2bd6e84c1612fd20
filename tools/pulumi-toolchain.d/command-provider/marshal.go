package main

// Conversion between the gRPC wire form (structpb) and resource.PropertyMap.
//
// sdk/v3's resource/plugin package does this, but it imports go/common/esc,
// whose dependency github.com/pulumi/pulumi-cloud-sdk is refused by the Go
// module proxy here. This is the subset the provider needs: secrets and
// unknowns are kept; other signature objects (assets, archives) pass through
// as plain objects, unchanged. Resource references never arrive: Configure
// does not accept them, so the engine sends their URN/ID instead.

import (
	"fmt"
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/sig"
	"google.golang.org/protobuf/types/known/structpb"
)

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	m := resource.PropertyMap{}
	if s == nil {
		return m, nil
	}
	for k, v := range s.GetFields() {
		pv, err := unmarshalValue(v)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", k, err)
		}
		if pv.IsNull() {
			continue // like plugin.MarshalOptions{SkipNulls: true}
		}
		m[resource.PropertyKey(k)] = pv
	}
	return m, nil
}

func unmarshalValue(v *structpb.Value) (resource.PropertyValue, error) {
	switch k := v.GetKind().(type) {
	case nil, *structpb.Value_NullValue:
		return resource.NewNullProperty(), nil
	case *structpb.Value_BoolValue:
		return resource.NewBoolProperty(k.BoolValue), nil
	case *structpb.Value_NumberValue:
		return resource.NewNumberProperty(k.NumberValue), nil
	case *structpb.Value_StringValue:
		if sig.IsUnknown(k.StringValue) {
			return resource.MakeComputed(resource.NewStringProperty("")), nil
		}
		return resource.NewStringProperty(k.StringValue), nil
	case *structpb.Value_ListValue:
		arr := make([]resource.PropertyValue, 0, len(k.ListValue.GetValues()))
		for _, e := range k.ListValue.GetValues() {
			pe, err := unmarshalValue(e)
			if err != nil {
				return resource.PropertyValue{}, err
			}
			arr = append(arr, pe)
		}
		return resource.NewArrayProperty(arr), nil
	case *structpb.Value_StructValue:
		fields := k.StructValue.GetFields()
		if s, ok := fields[sig.Key]; ok && s.GetStringValue() == sig.Secret {
			inner, err := unmarshalValue(fields["value"])
			if err != nil {
				return resource.PropertyValue{}, err
			}
			return resource.MakeSecret(inner), nil
		}
		obj := resource.PropertyMap{}
		for fk, fv := range fields {
			pv, err := unmarshalValue(fv)
			if err != nil {
				return resource.PropertyValue{}, err
			}
			obj[resource.PropertyKey(fk)] = pv
		}
		return resource.NewObjectProperty(obj), nil
	}
	return resource.PropertyValue{}, fmt.Errorf("unexpected value %v", v)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	out := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[resource.PropertyKey(k)]
		if v.IsNull() {
			continue
		}
		mv, err := marshalValue(v)
		if err != nil {
			return nil, fmt.Errorf("property %s: %w", k, err)
		}
		out.Fields[k] = mv
	}
	return out, nil
}

func marshalValue(v resource.PropertyValue) (*structpb.Value, error) {
	switch {
	case v.IsNull():
		return structpb.NewNullValue(), nil
	case v.IsBool():
		return structpb.NewBoolValue(v.BoolValue()), nil
	case v.IsNumber():
		return structpb.NewNumberValue(v.NumberValue()), nil
	case v.IsString():
		return structpb.NewStringValue(v.StringValue()), nil
	case v.IsComputed(), v.IsOutput() && !v.OutputValue().Known:
		return structpb.NewStringValue(sig.UnknownStringValue), nil
	case v.IsSecret():
		inner, err := marshalValue(v.SecretValue().Element)
		if err != nil {
			return nil, err
		}
		return structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
			sig.Key: structpb.NewStringValue(sig.Secret),
			"value": inner,
		}}), nil
	case v.IsArray():
		vals := make([]*structpb.Value, 0, len(v.ArrayValue()))
		for _, e := range v.ArrayValue() {
			me, err := marshalValue(e)
			if err != nil {
				return nil, err
			}
			vals = append(vals, me)
		}
		return structpb.NewListValue(&structpb.ListValue{Values: vals}), nil
	case v.IsObject():
		s, err := marshal(v.ObjectValue())
		if err != nil {
			return nil, err
		}
		// keep explicit nulls inside objects out, like the SDK's SkipNulls
		return structpb.NewStructValue(s), nil
	}
	return nil, fmt.Errorf("cannot marshal a %s value", v.TypeString())
}
