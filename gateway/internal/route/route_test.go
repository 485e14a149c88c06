package route

import (
	"strings"
	"testing"

	optionsv1 "atrium.dev/gen/atrium/options/v1"
	"atrium.dev/platform/access"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	_ "google.golang.org/protobuf/types/known/emptypb"
)

func TestTableFromGeneratedDescriptors(t *testing.T) {
	tbl, err := New(AtriumServices(), map[string]string{
		"atrium.tenancy.v1.TenantService": "http://127.0.0.1:8081",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path      string
		found     bool
		level     access.Level
		upstream  string
		readOnly  bool
		streaming bool
	}{
		{"/atrium.tenancy.v1.TenantService/SignUp", true, access.Public, "http://127.0.0.1:8081", false, false},
		{"/atrium.tenancy.v1.TenantService/GetTenant", true, access.TenantMember, "http://127.0.0.1:8081", true, false},
		{"/atrium.tenancy.v1.TenantService/UpdateTenant", true, access.TenantAdmin, "http://127.0.0.1:8081", false, false},
		{"/atrium.tenancy.v1.OperatorService/MigrateTenants", true, access.Operator, "", false, true},
		{"/atrium.catalog.v1.CatalogService/ListEntities", true, access.TenantMember, "", true, false},
		// INTERNAL methods are not routable.
		{"/atrium.tenancy.v1.DirectoryService/ResolveTenant", false, 0, "", false, false},
		{"/atrium.tenancy.v1.ProvisioningService/Provision", false, 0, "", false, false},
		{"/atrium.tenancy.v1.TenantService/Nope", false, 0, "", false, false},
		{"/atrium.tenancy.v1.TenantService/GetTenant/", false, 0, "", false, false},
		{"/", false, 0, "", false, false},
	}
	for _, tt := range tests {
		r, ok := tbl.Lookup(tt.path)
		if ok != tt.found {
			t.Errorf("Lookup(%q) found = %v, want %v", tt.path, ok, tt.found)
			continue
		}
		if !ok {
			continue
		}
		up := ""
		if r.Upstream != nil {
			up = r.Upstream.String()
		}
		if r.Rule.Level != tt.level || up != tt.upstream || r.Rule.ReadOnly != tt.readOnly || r.Rule.Streaming != tt.streaming {
			t.Errorf("Lookup(%q) = %+v upstream %q", tt.path, r.Rule, up)
		}
	}
}

func TestNewRejects(t *testing.T) {
	unguarded := fakeService(t, false)
	guarded := fakeService(t, true)
	tests := []struct {
		name      string
		services  []protoreflect.ServiceDescriptor
		upstreams map[string]string
		want      string
	}{
		{"method without access option", []protoreflect.ServiceDescriptor{unguarded}, nil, "no atrium.options.v1.access"},
		{"unknown upstream service", AtriumServices(), map[string]string{"atrium.nope.v1.X": "http://x"}, "not a routable service"},
		{"internal-only upstream service", AtriumServices(), map[string]string{"atrium.tenancy.v1.DirectoryService": "http://x"}, "not a routable service"},
		{"bad upstream url", AtriumServices(), map[string]string{"atrium.tenancy.v1.TenantService": "ftp://127.0.0.1:8081"}, "want http"},
		{"upstream with query", []protoreflect.ServiceDescriptor{guarded}, map[string]string{"atrium.fake.v1.FakeService": "http://x/?a=b"}, "want http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.services, tt.upstreams)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, err := New([]protoreflect.ServiceDescriptor{guarded}, map[string]string{"atrium.fake.v1.FakeService": "http://x"}); err != nil {
		t.Fatalf("guarded fake service: %v", err)
	}
}

// fakeService builds a service descriptor at run time, with or without the access option on
// its one method.
func fakeService(t *testing.T, guarded bool) protoreflect.ServiceDescriptor {
	t.Helper()
	opts := &descriptorpb.MethodOptions{}
	if guarded {
		proto.SetExtension(opts, optionsv1.E_Access, &optionsv1.Access{Level: optionsv1.AccessLevel_ACCESS_LEVEL_TENANT_MEMBER})
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("atrium/fake/v1/fake.proto"),
		Package:    proto.String("atrium.fake.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"google/protobuf/empty.proto"},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("FakeService"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name:       proto.String("Do"),
				InputType:  proto.String(".google.protobuf.Empty"),
				OutputType: proto.String(".google.protobuf.Empty"),
				Options:    opts,
			}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd.Services().Get(0)
}
