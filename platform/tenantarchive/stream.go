package tenantarchive

import (
	"context"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"connectrpc.com/connect"
)

// AsTenant is the identity a service acts as, for tenancy, on one tenant's data while it
// exports or imports that tenant's part: the caller is the tenancy service, the data the tenant's.
func AsTenant(ctx context.Context, tenantID, schema, shard string) context.Context {
	return authn.WithIdentity(ctx, &authn.Identity{TenantID: tenantID, Schema: schema, Shard: shard, Service: "tenancy"})
}

// BatchBytes is about how much record text goes in one message of the services' streams,
// well under every service's 1 MiB message limit.
const BatchBytes = 256 << 10

// Batches groups record lines into calls of send of about BatchBytes each. flush sends what
// is left.
func Batches(send func([]string) error) (emit func(string) error, flush func() error) {
	var batch []string
	size := 0
	flush = func() error {
		if len(batch) == 0 {
			return nil
		}
		err := send(batch)
		batch, size = nil, 0
		return err
	}
	emit = func(line string) error {
		batch = append(batch, line)
		size += len(line)
		if size >= BatchBytes {
			return flush()
		}
		return nil
	}
	return emit, flush
}

// ExportStream is Batches over a service's ExportTenantData stream.
func ExportStream(stream *connect.ServerStream[tenancyv1.ExportTenantDataResponse]) (emit func(string) error, flush func() error) {
	return Batches(func(b []string) error {
		return stream.Send(&tenancyv1.ExportTenantDataResponse{Records: b})
	})
}

// ImportStream reads a service's ImportTenantData stream: the first message (the target),
// and next, which returns the records message by message (the first's included) and false
// once the stream has ended.
func ImportStream(stream *connect.ClientStream[tenancyv1.ImportTenantDataRequest]) (*tenancyv1.ImportTenantDataRequest, func() ([]string, bool, error), error) {
	if !stream.Receive() {
		if err := stream.Err(); err != nil {
			return nil, nil, err
		}
		return &tenancyv1.ImportTenantDataRequest{}, func() ([]string, bool, error) { return nil, false, nil }, nil
	}
	first := stream.Msg()
	pending := first.GetRecords()
	done := false
	next := func() ([]string, bool, error) {
		if pending != nil {
			out := pending
			pending = nil
			return out, !done, nil
		}
		if done {
			return nil, false, nil
		}
		if !stream.Receive() {
			done = true
			return nil, false, stream.Err()
		}
		return stream.Msg().GetRecords(), true, nil
	}
	return first, next, nil
}
