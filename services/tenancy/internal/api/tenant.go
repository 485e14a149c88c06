package api

import (
	"context"
	"strings"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/platform/authn"
	"atrium.dev/platform/rpcerr"
	"atrium.dev/platform/tenantdb"
	"atrium.dev/services/tenancy/internal/password"
	"atrium.dev/services/tenancy/internal/store"
	"atrium.dev/services/tenancy/internal/validate"
	"connectrpc.com/connect"
)

// TenantService is a tenant's view of itself, and sign-up.
type TenantService struct{ *Deps }

// NewTenantService returns the service.
func NewTenantService(d *Deps) *TenantService { return &TenantService{d} }

func (s *TenantService) SignUp(ctx context.Context, req *connect.Request[tenancyv1.SignUpRequest]) (*connect.Response[tenancyv1.SignUpResponse], error) {
	m := req.Msg
	in := newTenant{
		slug:         m.GetSlug(),
		displayName:  strings.TrimSpace(m.GetOrgName()),
		email:        validate.NormalizeEmail(m.GetAdminEmail()),
		password:     m.GetAdminPassword(),
		needPassword: true,
		action:       "tenant.signup",
		fields:       tenantFields{displayName: "org_name"},
	}
	var v rpcerr.Violations
	in.validate(&v)
	if err := v.Err(); err != nil {
		return nil, err
	}
	t, err := s.createTenant(ctx, in)
	if err != nil {
		return nil, err
	}
	u, err := s.Store.UserByEmail(ctx, t.ID, in.email)
	if err != nil {
		return nil, err
	}
	// One insert (the refresh token): no transaction needed around it.
	tok, err := issueTokens(ctx, s.Store, s.Tokens, u.ID, t.ID, authn.RoleOwner, "")
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.SignUpResponse{
		Tenant: tenantProto(t), AccessToken: tok.access, RefreshToken: tok.refresh,
		AccessTokenExpireTime: ts(tok.accessExpiry), User: userProto(u),
	}), nil
}

// tenantFields names the request fields where they differ between SignUp and CreateTenant.
type tenantFields struct{ displayName string }

// newTenant is a tenant to create, from SignUp or OperatorService.CreateTenant.
type newTenant struct {
	slug, displayName, email, password, shard string
	// needPassword: the owner chooses a password now (sign-up). An operator creating a tenant
	// may leave it out: the owner is then emailed a link to set one.
	needPassword bool
	action       string
	fields       tenantFields
}

func (in *newTenant) validate(v *rpcerr.Violations) {
	if d := validate.DisplayName(in.displayName); d != "" {
		v.Add(in.fields.displayName, d)
	}
	if d := validate.Slug(in.slug); d != "" {
		v.Add("slug", d)
	}
	if d := validate.Email(in.email); d != "" {
		v.Add("admin_email", d)
	}
	if in.password != "" || in.needPassword {
		if d := validate.Password(in.password, in.slug, in.email); d != "" {
			v.Add("admin_password", d)
		}
	}
}

// createTenant checks the owner and the slug, inserts the tenant and runs the provisioning
// sequence. Nothing is written before every check has passed.
//
// A new owner's password is hashed (argon2id, ~25 ms of CPU) from the start, in the background,
// so that it overlaps the checks, the tenant row, the schema and the services' tables; the
// owner step waits for it. When a check fails the hash is dropped: its goroutine ends by
// itself. The owner is always a new account of the new tenant: accounts of other tenants are
// never looked at, so sign-up cannot depend on them (issue 6).
func (d *Deps) createTenant(ctx context.Context, in newTenant) (store.Tenant, error) {
	var pending *password.Pending
	if in.password != "" {
		pending = password.Start(in.password)
	}
	// The slug and the shard are looked up beside the owner; the answers are taken in this
	// order, so a taken slug is reported first as before. The channels are buffered: an early
	// return leaves no goroutine blocked.
	slugc, shardc := make(chan error, 1), make(chan shardPick, 1)
	go func() { slugc <- d.slugFree(ctx, in.slug) }()
	go func() { shardc <- d.pickShard(ctx, in.shard) }()
	if pending == nil {
		// An operator left the password out: the owner gets an unguessable one and an emailed
		// link to choose theirs (see CreateTenant).
		pending = password.Start(randomPassword())
	}
	if err := <-slugc; err != nil {
		return store.Tenant{}, err
	}
	pick := <-shardc
	if pick.err != nil {
		return store.Tenant{}, pick.err
	}
	shard := pick.name

	id := store.NewID()
	var t store.Tenant
	err := d.Store.Tx(ctx, func(tx *store.Store) error {
		var err error
		t, err = tx.InsertTenant(ctx, store.Tenant{
			ID: id, Slug: in.slug, DisplayName: in.displayName, Shard: shard, Schema: tenantdb.SchemaFor(id),
			AdminEmail: in.email,
		})
		if err != nil {
			return err
		}
		return audit(ctx, tx, in.action, id, "tenant:"+in.slug, map[string]string{
			"slug": in.slug, "display_name": in.displayName, "shard": shard, "owner": in.email,
		})
	})
	if err != nil {
		return store.Tenant{}, err
	}
	t, err = d.Provisioner.Create(ctx, t, pending.Wait)
	if err != nil {
		return store.Tenant{}, rpcerr.Unavailable("could not set up the organization; try again").WithCause(err)
	}
	d.seatsChanged(ctx, t.ID) // the owner's seat, so a new org's usage is not "not counted yet"
	return t, nil
}

// slugFree fails with AlreadyExists if a live tenant has slug. The insert would catch it too,
// after the owner's checks; this names the field.
func (d *Deps) slugFree(ctx context.Context, slug string) error {
	t, err := d.Store.TenantBySlug(ctx, slug)
	switch {
	case err == nil && t.Status.Live():
		return slugTaken()
	case err != nil && rpcerr.KindOf(err) != rpcerr.KindNotFound:
		return err
	}
	return nil
}

type shardPick struct {
	name string
	err  error
}

// pickShard checks the shard asked for, or picks the accepting one with the fewest tenants.
func (d *Deps) pickShard(ctx context.Context, shard string) shardPick {
	if shard == "" {
		name, err := d.Store.PickShard(ctx)
		if err != nil {
			return shardPick{err: notFoundAs(err, "shard", "no shard accepts new tenants")}
		}
		return shardPick{name: name}
	}
	sh, err := d.Store.GetShard(ctx, shard)
	if err != nil {
		return shardPick{err: notFoundAs(err, "shard", "unknown shard")}
	}
	// An explicit shard still respects its capacity: a full shard is refused, not overfilled.
	if !sh.HasRoom() {
		return shardPick{err: rpcerr.ResourceExhausted(0, "shard %s is full (%d of %d tenants)", sh.Name, sh.TenantCount, sh.MaxTenants)}
	}
	return shardPick{name: shard}
}

// randomPassword is a password nobody knows (256 random bits).
func randomPassword() string {
	secret, _ := authn.NewOpaqueToken("pw")
	return secret
}

func slugTaken() error {
	e := rpcerr.AlreadyExists("slug is already taken")
	e.Violations = []rpcerr.Violation{{Field: "slug", Description: "is already taken"}}
	return e
}

func (s *TenantService) GetTenant(ctx context.Context, _ *connect.Request[tenancyv1.GetTenantRequest]) (*connect.Response[tenancyv1.GetTenantResponse], error) {
	if _, err := member(ctx, s.Store, false); err != nil {
		return nil, err
	}
	t, err := tenantOf(ctx, s.Store)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.GetTenantResponse{Tenant: tenantProto(t), DeletionGraceSeconds: int64(s.DeleteGrace.Seconds())}), nil
}

func (s *TenantService) UpdateTenant(ctx context.Context, req *connect.Request[tenancyv1.UpdateTenantRequest]) (*connect.Response[tenancyv1.UpdateTenantResponse], error) {
	name := strings.TrimSpace(req.Msg.GetDisplayName())
	if d := validate.DisplayName(name); d != "" {
		return nil, rpcerr.InvalidField("display_name", d)
	}
	var out store.Tenant
	err := s.Store.Tx(ctx, func(tx *store.Store) error {
		if _, err := member(ctx, tx, true); err != nil {
			return err
		}
		t, err := tx.LockTenant(ctx, caller(ctx).TenantID)
		if err != nil {
			return err
		}
		if out, err = tx.SetDisplayName(ctx, t.ID, name); err != nil {
			return err
		}
		return audit(ctx, tx, "tenant.update", t.ID, "tenant:"+t.Slug, map[string]any{
			"before": map[string]string{"display_name": t.DisplayName},
			"after":  map[string]string{"display_name": name},
		})
	})
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&tenancyv1.UpdateTenantResponse{Tenant: tenantProto(out)}), nil
}
