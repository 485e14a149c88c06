package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"strings"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantarchive"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/tenancy/internal/password"
	"atrium.dev/services/tenancy/internal/provision"
	"atrium.dev/services/tenancy/internal/store"
	"atrium.dev/services/tenancy/internal/validate"
	"connectrpc.com/connect"
)

// DataService is a tenant-plane service's TenantDataService: its part of tenant archives.
type DataService struct {
	Name   string
	Client tenancyv1connect.TenantDataServiceClient
}

// Archive limits: what an import accepts, compressed and not. The largest tenants (100k
// entities with their search rows) export to well under these.
const (
	maxArchiveBytes     = 2 << 30
	maxUncompressed     = 8 << 30
	archiveChunk        = 256 << 10
	tenancyPart         = "tenancy"
	recordTenant        = "tenant"
	recordMember        = "member"
	archiveMembersBatch = 500
)

// archiveTenant and archiveMember are tenancy's records. A member has no password hash:
// the import mails each member a link to choose a password.
type archiveTenant struct {
	ID          string    `json:"id"`
	Slug        string    `json:"slug"`
	DisplayName string    `json:"display_name"`
	CreatedAt   time.Time `json:"created_at"`
}

type archiveMember struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Role        string    `json:"role"`
	JoinedAt    time.Time `json:"joined_at"`
}

func record(table string, row any) (string, error) {
	b, err := json.Marshal(map[string]any{"table": table, "row": row})
	return string(b), err
}

// exportArchive writes t's archive: tenancy's records, then every data service's, then the
// archive's bytes, all as pieces for send.
func (d *Deps) exportArchive(ctx context.Context, t store.Tenant, send func(*tenancyv1.TenantArchivePiece) error) (tenantarchive.Manifest, error) {
	var m tenantarchive.Manifest
	if t.Status != store.StatusActive && t.Status != store.StatusSuspended {
		return m, rpcerr.FailedPrecondition("tenant %s is %s: only active and suspended tenants can be exported", t.Slug, t.Status)
	}
	b, err := tenantarchive.NewBuilder()
	if err != nil {
		return m, err
	}
	defer b.Close()
	var total int64
	progress := func(service string) error {
		return send(&tenancyv1.TenantArchivePiece{Service: service, Records: total})
	}

	part, err := b.Part(tenancyPart)
	if err != nil {
		return m, err
	}
	add := func(table string, row any) error {
		line, err := record(table, row)
		if err == nil {
			err = part.Add(line)
		}
		total++
		return err
	}
	if err := add(recordTenant, archiveTenant{ID: t.ID, Slug: t.Slug, DisplayName: t.DisplayName, CreatedAt: t.CreatedAt}); err != nil {
		return m, err
	}
	var after *store.Cursor
	for {
		ms, err := d.Store.ListMembers(ctx, t.ID, after, archiveMembersBatch)
		if err != nil {
			return m, err
		}
		for _, mb := range ms {
			if err := add(recordMember, archiveMember{ID: mb.User.ID, Email: mb.User.Email, DisplayName: mb.User.DisplayName,
				Role: mb.Role, JoinedAt: mb.CreatedAt}); err != nil {
				return m, err
			}
		}
		if len(ms) < archiveMembersBatch {
			break
		}
		last := ms[len(ms)-1]
		after = &store.Cursor{At: last.CreatedAt, ID: last.User.ID}
	}
	if err := progress(tenancyPart); err != nil {
		return m, err
	}

	for _, svc := range d.Data {
		part, err := b.Part(svc.Name)
		if err != nil {
			return m, err
		}
		stream, err := svc.Client.ExportTenantData(ctx, connect.NewRequest(&tenancyv1.ExportTenantDataRequest{
			TenantId: t.ID, Schema: t.Schema, Shard: t.Shard,
		}))
		if err != nil {
			return m, fmt.Errorf("%s: %w", svc.Name, err)
		}
		for stream.Receive() {
			for _, line := range stream.Msg().GetRecords() {
				if err := part.Add(line); err != nil {
					_ = stream.Close()
					return m, fmt.Errorf("%s: %w", svc.Name, err)
				}
				total++
			}
			if err := progress(svc.Name); err != nil {
				_ = stream.Close()
				return m, err
			}
		}
		err = stream.Err()
		_ = stream.Close()
		if err != nil {
			return m, exportError(svc.Name, err)
		}
	}

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		var err error
		m, err = b.WriteTo(pw, tenantarchive.Source{TenantID: t.ID, Slug: t.Slug, DisplayName: t.DisplayName, Schema: t.Schema}, time.Now())
		_ = pw.CloseWithError(err)
		done <- err
	}()
	buf := make([]byte, archiveChunk)
	for {
		n, err := io.ReadFull(pr, buf)
		if n > 0 {
			if serr := send(&tenancyv1.TenantArchivePiece{Chunk: append([]byte(nil), buf[:n]...)}); serr != nil {
				_ = pr.CloseWithError(serr)
				<-done
				return m, serr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			<-done
			return m, err
		}
	}
	if err := <-done; err != nil {
		return m, err
	}
	return m, send(&tenancyv1.TenantArchivePiece{Service: "", Records: total, Manifest: tenantarchive.ManifestJSON(m)})
}

// exportError keeps a service's answer when it is the caller's business, and names the service.
func exportError(service string, err error) error {
	var ce *connect.Error
	if errors.As(err, &ce) && ce.Code() == connect.CodeUnimplemented {
		return rpcerr.Unavailable("%s cannot export tenant data (not upgraded?)", service).WithCause(err)
	}
	return fmt.Errorf("%s: %w", service, err)
}

// ExportTenant streams the caller's own tenant (admins only).
func (s *TenantService) ExportTenant(ctx context.Context, _ *connect.Request[tenancyv1.ExportTenantRequest], stream *connect.ServerStream[tenancyv1.ExportTenantResponse]) error {
	if _, err := member(ctx, s.Store, true); err != nil {
		return err
	}
	t, err := tenantOf(ctx, s.Store)
	if err != nil {
		return err
	}
	if err := s.auditExport(ctx, t); err != nil {
		return err
	}
	_, err = s.exportArchive(ctx, t, func(p *tenancyv1.TenantArchivePiece) error {
		return stream.Send(&tenancyv1.ExportTenantResponse{Piece: p})
	})
	return err
}

// ExportTenantArchive streams any tenant's archive (operators).
func (s *OperatorService) ExportTenantArchive(ctx context.Context, req *connect.Request[tenancyv1.ExportTenantArchiveRequest], stream *connect.ServerStream[tenancyv1.ExportTenantArchiveResponse]) error {
	t, err := s.Store.LookupTenant(ctx, req.Msg.GetTenant())
	if err != nil {
		return notFoundAs(err, "tenant", "unknown tenant")
	}
	if err := s.auditExport(ctx, t); err != nil {
		return err
	}
	_, err = s.exportArchive(ctx, t, func(p *tenancyv1.TenantArchivePiece) error {
		return stream.Send(&tenancyv1.ExportTenantArchiveResponse{Piece: p})
	})
	return err
}

func (d *Deps) auditExport(ctx context.Context, t store.Tenant) error {
	return d.Store.Tx(ctx, func(tx *store.Store) error {
		return audit(ctx, tx, "tenant.export", t.ID, "tenant:"+t.Slug, nil)
	})
}

// parsedArchive is an archive read and checked, with tenancy's part decoded.
type parsedArchive struct {
	a       *tenantarchive.Archive
	tenant  archiveTenant
	members []archiveMember
	owner   archiveMember
}

func invalidArchive(format string, args ...any) error {
	return rpcerr.InvalidField("archive", fmt.Sprintf(format, args...))
}

// parseArchive reads the archive at f and checks everything that can be checked before a
// tenant exists: format, version, checksums, which services it holds, tenancy's records.
func (d *Deps) parseArchive(f *os.File) (*parsedArchive, error) {
	a, err := tenantarchive.Read(f, maxUncompressed)
	if err != nil {
		if tenantarchive.IsArchiveError(err) {
			return nil, invalidArchive("%v", err)
		}
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = a.Close()
		}
	}()
	known := map[string]bool{tenancyPart: true}
	for _, svc := range d.Data {
		known[svc.Name] = true
	}
	for _, p := range a.Manifest.Parts {
		if !known[p.Service] {
			return nil, invalidArchive("it holds data of service %q, which this installation does not run", p.Service)
		}
	}
	if !a.Has(tenancyPart) {
		return nil, invalidArchive("it has no %s part", tenancyPart)
	}
	pa := &parsedArchive{a: a}
	var tenants int
	emails := map[string]bool{}
	err = a.Records(tenancyPart, func(line string) error {
		var rec tenantarchive.Record
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			return invalidArchive("a tenancy record is not JSON")
		}
		switch rec.Table {
		case recordTenant:
			tenants++
			if err := json.Unmarshal(rec.Row, &pa.tenant); err != nil {
				return invalidArchive("tenant record: %v", err)
			}
		case recordMember:
			var m archiveMember
			if err := json.Unmarshal(rec.Row, &m); err != nil {
				return invalidArchive("member record: %v", err)
			}
			m.Email = validate.NormalizeEmail(m.Email)
			if d := validate.Email(m.Email); d != "" || m.ID == "" {
				return invalidArchive("member %q: email %s", m.Email, d)
			}
			if m.Role != string(authn.RoleOwner) && m.Role != string(authn.RoleAdmin) && m.Role != string(authn.RoleMember) {
				return invalidArchive("member %s: unknown role %q", m.Email, m.Role)
			}
			if emails[m.Email] {
				return invalidArchive("member %s twice", m.Email)
			}
			emails[m.Email] = true
			if m.Role == string(authn.RoleOwner) && pa.owner.ID == "" {
				pa.owner = m
			}
			pa.members = append(pa.members, m)
		default:
			return invalidArchive("unknown tenancy record %q", rec.Table)
		}
		return nil
	})
	if err != nil {
		if tenantarchive.IsArchiveError(err) {
			return nil, invalidArchive("%v", err)
		}
		return nil, err
	}
	if tenants != 1 {
		return nil, invalidArchive("it has %d tenant records, want 1", tenants)
	}
	if pa.owner.ID == "" {
		return nil, invalidArchive("it has no owner")
	}
	ok = true
	return pa, nil
}

// ImportTenantArchive restores an archive into a new tenant (see the proto).
func (s *OperatorService) ImportTenantArchive(ctx context.Context, stream *connect.ClientStream[tenancyv1.ImportTenantArchiveRequest]) (*connect.Response[tenancyv1.ImportTenantArchiveResponse], error) {
	f, err := os.CreateTemp("", "atrium-import-*.tar.gz")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close(); _ = os.Remove(f.Name()) }()
	var slug, shard string
	var size int64
	first := true
	for stream.Receive() {
		m := stream.Msg()
		if first {
			slug, shard, first = m.GetSlug(), m.GetShard(), false
		}
		size += int64(len(m.GetChunk()))
		if size > maxArchiveBytes {
			return nil, rpcerr.ResourceExhausted(0, "the archive is larger than the limit of %d bytes", int64(maxArchiveBytes))
		}
		if _, err := f.Write(m.GetChunk()); err != nil {
			return nil, err
		}
	}
	if err := stream.Err(); err != nil {
		return nil, err
	}
	if size == 0 {
		return nil, invalidArchive("empty")
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	pa, err := s.parseArchive(f)
	if err != nil {
		return nil, err
	}
	defer pa.a.Close()

	if slug == "" {
		slug = pa.tenant.Slug
	}
	in := newTenant{slug: slug, displayName: strings.TrimSpace(pa.tenant.DisplayName), email: pa.owner.Email, shard: shard,
		action: "tenant.import", fields: tenantFields{displayName: "display_name"}}
	if in.displayName == "" {
		in.displayName = slug
	}
	var v rpcerr.Violations
	in.validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	// A rerun after an import that was interrupted (its process killed before activation)
	// rolls that one back first, rather than finding the slug taken until the reconciler does.
	if prev, err := s.Store.TenantBySlug(ctx, slug); err == nil {
		if err := s.Provisioner.CleanUpInterruptedImport(ctx, prev); err != nil {
			if errors.Is(err, provision.ErrImportRunning) {
				return nil, rpcerr.FailedPrecondition("an import into %s is still running; try again when it has ended", slug)
			}
			return nil, err
		}
	} else if rpcerr.KindOf(err) != rpcerr.KindNotFound {
		return nil, err
	}
	if err := s.slugFree(ctx, slug); err != nil {
		return nil, err
	}
	pick := s.pickShard(ctx, shard)
	if pick.err != nil {
		return nil, pick.err
	}
	id := store.NewID()
	var t store.Tenant
	err = s.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		t, err = tx.InsertTenant(ctx, store.Tenant{
			ID: id, Slug: slug, DisplayName: in.displayName, Shard: pick.name, Schema: tenantdb.SchemaFor(id),
			AdminEmail: pa.owner.Email, StatusReason: store.ReasonImport,
		})
		if err != nil {
			return err
		}
		return audit(ctx, tx, "tenant.import", id, "tenant:"+slug, map[string]any{
			"source_tenant": pa.tenant.ID, "source_slug": pa.tenant.Slug, "archive_time": pa.a.Manifest.CreatedAt,
			"shard": pick.name, "members": len(pa.members),
		})
	})
	if err != nil {
		return nil, err
	}

	out := &tenancyv1.ImportTenantArchiveResponse{Records: map[string]int64{}}
	// Every account gets a password nobody knows (256 random bits, hashed once for the
	// import); each member then chooses their own from the mailed link.
	hash := password.Start(randomPassword())
	t, err = s.Provisioner.Import(ctx, t, hash.Wait, func(ctx context.Context, t store.Tenant) error {
		return s.fillTenant(ctx, t, pa, hash, out)
	})
	if err != nil {
		return nil, importFailed(err)
	}
	// Setup links go out only once the tenant is active: a rolled-back import mails nobody.
	err = s.Store.Tx(ctx, func(tx *store.Store) error {
		for _, m := range pa.members {
			u, err := tx.UserByEmail(ctx, t.ID, m.Email)
			if err != nil {
				return err
			}
			if err := s.queueReset(ctx, tx, t, u, OwnerSetupTTL, true); err != nil {
				return err
			}
			out.MembersInvited++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.mailQueued()
	s.seatsChanged(ctx, t.ID)
	out.Tenant = tenantProto(t)
	return connect.NewResponse(out), nil
}

// importFailed says that nothing was kept, keeping the kind of a refusal that is the
// caller's business: an archive record a service refused (InvalidArgument) or a state it
// found wrong (FailedPrecondition). Anything else is Unavailable, its cause logged.
func importFailed(err error) error {
	const prefix = "import rolled back, nothing was created: "
	var ce *connect.Error
	if errors.As(err, &ce) {
		switch ce.Code() {
		case connect.CodeInvalidArgument:
			msg := ce.Message()
			if vs := rpcerr.FieldViolations(ce); len(vs) > 0 {
				msg = vs[0].Description
			}
			return rpcerr.InvalidField("archive", prefix+msg).WithCause(err)
		case connect.CodeFailedPrecondition:
			return rpcerr.FailedPrecondition("%s%s", prefix, ce.Message()).WithCause(err)
		}
	}
	switch rpcerr.KindOf(err) {
	case rpcerr.KindInvalid:
		msg := "invalid archive"
		var re *rpcerr.Error
		if errors.As(err, &re) && len(re.Violations) > 0 {
			msg = re.Violations[0].Description
		}
		return rpcerr.InvalidField("archive", prefix+msg).WithCause(err)
	case rpcerr.KindFailedPrecondition:
		var re *rpcerr.Error
		errors.As(err, &re)
		return rpcerr.FailedPrecondition("%s%s", prefix, re.Msg).WithCause(err)
	}
	return rpcerr.Unavailable("the import failed and was rolled back; nothing was created").WithCause(err)
}

// fillTenant restores the archive into t (provisioned, owner made, not yet active): every
// service's part, each in its own transaction, then the members. Any error rolls t back.
func (d *Deps) fillTenant(ctx context.Context, t store.Tenant, pa *parsedArchive, hash *password.Pending, out *tenancyv1.ImportTenantArchiveResponse) error {
	owner, err := d.Store.UserByEmail(ctx, t.ID, pa.owner.Email)
	if err != nil {
		return err
	}
	ids := map[string]string{pa.owner.ID: owner.ID}
	for _, m := range pa.members {
		if _, ok := ids[m.ID]; !ok {
			ids[m.ID] = store.NewID()
		}
	}
	for _, svc := range d.Data {
		if !pa.a.Has(svc.Name) {
			continue
		}
		n, notes, err := d.importPart(ctx, svc, t, pa, ids)
		if err != nil {
			return err
		}
		out.Records[svc.Name] = n
		out.Notes = append(out.Notes, notes...)
		if err := d.Provisioner.Checkpoint(t.ID, provision.StepImportPart(svc.Name)); err != nil {
			return err
		}
	}
	h, err := hash.Wait(ctx)
	if err != nil {
		return err
	}
	var n int64 = 1
	err = d.Store.Tx(ctx, func(tx *store.Store) error {
		for _, m := range pa.members {
			if m.ID == pa.owner.ID {
				if err := tx.SetUserProfile(ctx, t.ID, owner.ID, m.DisplayName, h); err != nil {
					return err
				}
				n++
				continue
			}
			if _, err := tx.InsertUser(ctx, store.User{ID: ids[m.ID], TenantID: t.ID, Email: m.Email, DisplayName: m.DisplayName, PasswordHash: h}); err != nil {
				return err
			}
			if err := tx.AddMembership(ctx, t.ID, ids[m.ID], m.Role); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return err
	}
	out.Records[tenancyPart] = n
	return nil
}

// importPart streams one service's records to it; the service applies them in one
// transaction when the stream ends.
func (d *Deps) importPart(ctx context.Context, svc DataService, t store.Tenant, pa *parsedArchive, ids map[string]string) (int64, []string, error) {
	stream := svc.Client.ImportTenantData(ctx)
	firstMsg := &tenancyv1.ImportTenantDataRequest{
		TenantId: t.ID, Schema: t.Schema, Shard: t.Shard,
		SourceTenantId: pa.tenant.ID, SourceSchema: pa.a.Manifest.Source.Schema, UserIds: ids,
	}
	sent := false
	emit, flush := tenantarchive.Batches(func(b []string) error {
		msg := &tenancyv1.ImportTenantDataRequest{Records: b}
		if !sent {
			firstMsg.Records, msg, sent = b, firstMsg, true
		}
		return stream.Send(msg)
	})
	err := pa.a.Records(svc.Name, emit)
	if err == nil {
		err = flush()
	}
	if err == nil && !sent {
		err = stream.Send(firstMsg)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		_, _ = stream.CloseAndReceive()
		if tenantarchive.IsArchiveError(err) {
			return 0, nil, invalidArchive("%v", err)
		}
		return 0, nil, fmt.Errorf("%s: %w", svc.Name, err)
	}
	// io.EOF from Send: the service answered early; its answer is in CloseAndReceive.
	res, err := stream.CloseAndReceive()
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", svc.Name, err)
	}
	return res.Msg.GetRecords(), res.Msg.GetNotes(), nil
}
