// Package access reads the access policy every RPC declares with the atrium.options.v1.access
// method option, and decides whether an identity may call it. The gateway and the services both
// use it, so a method is guarded twice by the same rules.
package access

import (
	"fmt"
	"strings"
	"sync"

	optionsv1 "atrium.dev/gen/atrium/options/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Level mirrors optionsv1.AccessLevel so callers need not import generated code.
type Level = optionsv1.AccessLevel

const (
	Public       = optionsv1.AccessLevel_ACCESS_LEVEL_PUBLIC
	TenantMember = optionsv1.AccessLevel_ACCESS_LEVEL_TENANT_MEMBER
	TenantAdmin  = optionsv1.AccessLevel_ACCESS_LEVEL_TENANT_ADMIN
	Operator     = optionsv1.AccessLevel_ACCESS_LEVEL_OPERATOR
	Internal     = optionsv1.AccessLevel_ACCESS_LEVEL_INTERNAL
)

// Rule is one method's policy.
type Rule struct {
	Procedure string // "/atrium.tenancy.v1.TenantService/GetTenant"
	Level     Level
	Plugin    string
	// ReadOnly is true for methods marked idempotency_level = NO_SIDE_EFFECTS; suspended
	// tenants may still call them.
	ReadOnly bool
	// Streaming is true for client-, server- or bidi-streaming methods.
	Streaming bool
	// ClientStreaming is true when the client may send more than one message: the gateway
	// cannot read such a body whole before forwarding it.
	ClientStreaming bool
}

var cache sync.Map // procedure -> Rule

// ForProcedure returns the rule of a Connect procedure ("/pkg.Service/Method"). The method's
// file must be linked into the binary (import its generated package). ok is false for an
// unknown method or one without an access option: callers must refuse those.
func ForProcedure(procedure string) (Rule, bool) {
	if r, ok := cache.Load(procedure); ok {
		return r.(Rule), true
	}
	svc, method, ok := splitProcedure(procedure)
	if !ok {
		return Rule{}, false
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return Rule{}, false
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return Rule{}, false
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return Rule{}, false
	}
	r, ok := ruleOf(md)
	if !ok {
		return Rule{}, false
	}
	cache.Store(procedure, r)
	return r, true
}

// ServiceRules lists the rules of every method of a service descriptor. It fails if any method
// lacks an access option, so a service cannot be mounted with an unguarded method.
func ServiceRules(sd protoreflect.ServiceDescriptor) ([]Rule, error) {
	var rules []Rule
	for i := 0; i < sd.Methods().Len(); i++ {
		md := sd.Methods().Get(i)
		r, ok := ruleOf(md)
		if !ok {
			return nil, fmt.Errorf("access: %s has no atrium.options.v1.access option", md.FullName())
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func ruleOf(md protoreflect.MethodDescriptor) (Rule, bool) {
	opts, ok := md.Options().(*descriptorpb.MethodOptions)
	if !ok || opts == nil || !proto.HasExtension(opts, optionsv1.E_Access) {
		return Rule{}, false
	}
	a, _ := proto.GetExtension(opts, optionsv1.E_Access).(*optionsv1.Access)
	if a == nil || a.GetLevel() == optionsv1.AccessLevel_ACCESS_LEVEL_UNSPECIFIED {
		return Rule{}, false
	}
	return Rule{
		Procedure:       "/" + string(md.Parent().FullName()) + "/" + string(md.Name()),
		Level:           a.GetLevel(),
		Plugin:          a.GetPlugin(),
		ReadOnly:        opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS,
		Streaming:       md.IsStreamingClient() || md.IsStreamingServer(),
		ClientStreaming: md.IsStreamingClient(),
	}, true
}

func splitProcedure(p string) (service, method string, ok bool) {
	p = strings.TrimPrefix(p, "/")
	i := strings.LastIndexByte(p, '/')
	if i <= 0 || i == len(p)-1 {
		return "", "", false
	}
	return p[:i], p[i+1:], true
}
