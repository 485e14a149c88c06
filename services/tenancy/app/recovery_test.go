package app_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/services/tenancy/app"
	"atrium.dev/services/tenancy/internal/provision"
	"connectrpc.com/connect"
)

func signUpReq(slug string) *connect.Request[tenancyv1.SignUpRequest] {
	return connect.NewRequest(&tenancyv1.SignUpRequest{
		OrgName: "Org " + slug, Slug: slug, AdminEmail: "owner@" + slug + ".example.com", AdminPassword: goodPassword,
	})
}

// reconciler starts a second replica of s whose background loop takes over stuck tenants at
// once.
func reconciler(s *stack, mods ...func(*app.Config)) *stack {
	r := s.another(append([]func(*app.Config){func(c *app.Config) {
		c.AfterStep = nil
		c.StuckAfter = time.Millisecond
		c.ReconcileInterval = 20 * time.Millisecond
	}}, mods...)...)
	r.app.Start(context.Background())
	return r
}

func (s *stack) status(slug string) tenancyv1.TenantStatus { return s.lookup(slug).GetStatus() }

// A process that dies in the middle of a sign-up leaves a provisioning tenant that the reconciler
// of another process takes over. The owner's password hash reaches the database with the owner
// (sign-up hashes it while the schema is made): a process that died after that step leaves a
// tenant the reconciler finishes, and the owner logs in with the password given at sign-up; one
// that died before it leaves no password to make the owner with, so the reconciler rolls the
// tenant back and the slug can be signed up for again.
func TestCrashRecoveryFinishes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		step     string
		finishes bool
	}{
		{provision.StepSchema, false},
		{provision.StepService("testsvc"), false},
		{provision.StepOwner, true},
	} {
		t.Run(tt.step, func(t *testing.T) {
			t.Parallel()
			s := newStack(t, func(c *app.Config) {
				c.AfterStep = func(_, got string) error {
					if got == tt.step {
						return app.ErrSimulatedCrash
					}
					return nil
				}
			})
			ctx := context.Background()
			_, err := s.anon().Tenants.SignUp(ctx, signUpReq("acme"))
			wantCode(t, err, connect.CodeUnavailable)
			half := s.lookup("acme")
			if half.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_PROVISIONING || !s.schemaExists(half.GetSchema()) {
				t.Fatalf("after the crash: %v, schema exists %v", half, s.schemaExists(half.GetSchema()))
			}

			r := reconciler(s)
			if !tt.finishes {
				waitFor(t, "reconciler to roll acme back", func() bool {
					return r.status(half.GetId()) == tenancyv1.TenantStatus_TENANT_STATUS_FAILED
				})
				if s.schemaExists(half.GetSchema()) || s.roleExists(half.GetSchema()) {
					t.Fatal("schema or role left behind")
				}
				if n := s.count(`SELECT count(*) FROM tenancy.users WHERE email = 'owner@acme.example.com'`); n != 0 {
					t.Fatalf("%d owner users left", n)
				}
				// Again through a replica that neither crashes nor reconciles at once: r's
				// reconciler (stuck after 1 ms) would take the new sign-up over and roll it
				// back whenever one of its steps took longer, as on a loaded machine.
				r.app.Close()
				again := s.another(func(c *app.Config) { c.AfterStep = nil })
				if o := again.signUp("acme"); o.tenant.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE {
					t.Fatalf("signing up again: %v", o.tenant)
				}
				return
			}
			waitFor(t, "reconciler to activate acme", func() bool {
				return r.status("acme") == tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE
			})
			if n := s.count(`SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = 'widgets'`, half.GetSchema()); n != 1 {
				t.Fatal("provisioner tables missing after reconcile")
			}
			res, err := r.atTenant(s.lookup("acme")).Auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{
				Email: "owner@acme.example.com", Password: goodPassword,
			}))
			if err != nil {
				t.Fatalf("owner login after reconcile: %v", err)
			}
			if res.Msg.GetRole() != tenancyv1.Role_ROLE_OWNER {
				t.Fatalf("role %v", res.Msg.GetRole())
			}
			if n := s.count(`SELECT count(*) FROM tenancy.users WHERE email = 'owner@acme.example.com'`); n != 1 {
				t.Fatalf("%d owner users", n)
			}
		})
	}
}

// A step that fails during sign-up rolls the tenant back at once: no schema, role, member or
// user is left, and the slug can be used again.
func TestFailedProvisioningRollsBack(t *testing.T) {
	t.Parallel()
	var failOwner atomic.Bool
	s := newStack(t, func(c *app.Config) {
		c.AfterStep = func(_, step string) error {
			if failOwner.Load() && step == provision.StepOwner {
				return errors.New("injected owner failure")
			}
			return nil
		}
	})
	ctx := context.Background()
	schemas, roles := s.tenantSchemas(), s.tenantRoles()
	check := func(t *testing.T) {
		t.Helper()
		failed := s.lookup("acme")
		if failed.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_FAILED {
			t.Fatalf("status %v, want failed", failed.GetStatus())
		}
		if s.schemaExists(failed.GetSchema()) || s.roleExists(failed.GetSchema()) || s.tenantSchemas() != schemas || s.tenantRoles() != roles {
			t.Fatal("schema or role left behind")
		}
		if n := s.count(`SELECT count(*) FROM tenancy.memberships WHERE tenant_id = $1`, failed.GetId()); n != 0 {
			t.Fatalf("%d memberships left", n)
		}
		if n := s.count(`SELECT count(*) FROM tenancy.users WHERE email = 'owner@acme.example.com'`); n != 0 {
			t.Fatalf("%d owner users left", n)
		}
		if n := s.count(`SELECT count(*) FROM tenancy.audit_log WHERE action = 'tenant.rollback' AND tenant_id = $1`, failed.GetId()); n != 1 {
			t.Fatalf("rollback audit events = %d", n)
		}
	}

	t.Run("provisioner fails", func(t *testing.T) {
		s.prov.setFail(func(string) error { return errors.New("catalog is down") })
		defer s.prov.setFail(nil)
		_, err := s.anon().Tenants.SignUp(ctx, signUpReq("acme"))
		wantCode(t, err, connect.CodeUnavailable)
		check(t)
	})
	t.Run("owner step fails", func(t *testing.T) {
		failOwner.Store(true)
		defer failOwner.Store(false)
		_, err := s.anon().Tenants.SignUp(ctx, signUpReq("acme"))
		wantCode(t, err, connect.CodeUnavailable)
		check(t)
	})
	t.Run("slug free again", func(t *testing.T) {
		o := s.signUp("acme")
		if o.tenant.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE {
			t.Fatal(o.tenant)
		}
		if got := s.lookup("acme"); got.GetId() != o.tenant.GetId() {
			t.Fatalf("slug resolves to %s, want the new tenant %s", got.GetId(), o.tenant.GetId())
		}
		if n := s.count(`SELECT count(*) FROM tenancy.tenants WHERE slug = 'acme' AND status = 'failed'`); n != 2 {
			t.Fatalf("failed tenants kept for the record: %d, want 2", n)
		}
	})
}

// A tenant that stops provisioning forward while its sign-up runs (another process began
// rolling it back) gets no owner: the owner step checks its claim in the owner's transaction.
func TestOwnerStepChecksClaim(t *testing.T) {
	t.Parallel()
	var (
		s         *stack
		ownerDone atomic.Bool
	)
	s = newStack(t, func(c *app.Config) {
		c.AfterStep = func(tenantID, step string) error {
			switch step {
			case provision.StepService("testsvc"):
				_, err := s.db.Exec(context.Background(), `UPDATE tenancy.tenants SET rolling_back = true WHERE id = $1`, tenantID)
				return err
			case provision.StepOwner:
				ownerDone.Store(true)
			}
			return nil
		}
	})
	_, err := s.anon().Tenants.SignUp(context.Background(), signUpReq("acme"))
	wantCode(t, err, connect.CodeUnavailable)
	if ownerDone.Load() {
		t.Fatal("the owner step succeeded for a tenant being rolled back")
	}
	if n := s.count(`SELECT count(*) FROM tenancy.users WHERE email = 'owner@acme.example.com'`); n != 0 {
		t.Fatalf("%d owner users made for a tenant being rolled back", n)
	}
	if got := s.lookup("acme").GetStatus(); got == tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE {
		t.Fatalf("tenant being rolled back became %v", got)
	}
}

// A tenant whose provisioning keeps failing after a crash is retried, then rolled back.
func TestReconcilerRollsBack(t *testing.T) {
	t.Parallel()
	crash := func(c *app.Config) {
		c.AfterStep = func(_, step string) error {
			if step == provision.StepSchema {
				return app.ErrSimulatedCrash
			}
			return nil
		}
	}
	t.Run("after max attempts", func(t *testing.T) {
		t.Parallel()
		s := newStack(t, crash)
		ctx := context.Background()
		_, err := s.anon().Tenants.SignUp(ctx, signUpReq("acme"))
		wantCode(t, err, connect.CodeUnavailable)
		half := s.lookup("acme")
		s.prov.setFail(func(string) error { return errors.New("still down") })
		r := reconciler(s, func(c *app.Config) { c.MaxProvisionAttempts = 3 })
		waitFor(t, "rollback", func() bool { return r.status(half.GetId()) == tenancyv1.TenantStatus_TENANT_STATUS_FAILED })
		// The sign-up was attempt 1 (crashed before the provisioner); the reconciler tried twice.
		if n := s.prov.provisionCount(half.GetId()); n != 2 {
			t.Fatalf("provision calls = %d, want 2", n)
		}
		if s.schemaExists(half.GetSchema()) || s.roleExists(half.GetSchema()) {
			t.Fatal("schema or role left behind")
		}
	})
	t.Run("owner cannot be created", func(t *testing.T) {
		t.Parallel()
		s := newStack(t, crash)
		ctx := context.Background()
		_, err := s.anon().Tenants.SignUp(ctx, signUpReq("acme"))
		wantCode(t, err, connect.CodeUnavailable)
		half := s.lookup("acme")
		// The pending owner is lost (say, a bad manual repair): there is no one to hand the
		// tenant to, so retrying is pointless.
		if _, err := s.db.Exec(ctx, `UPDATE tenancy.tenants SET admin_password_hash = NULL WHERE id = $1`, half.GetId()); err != nil {
			t.Fatal(err)
		}
		r := reconciler(s)
		waitFor(t, "rollback", func() bool { return r.status(half.GetId()) == tenancyv1.TenantStatus_TENANT_STATUS_FAILED })
		if s.schemaExists(half.GetSchema()) || s.roleExists(half.GetSchema()) {
			t.Fatal("schema or role left behind")
		}
	})
}

// Deleted tenants are purged by the background loop once the grace period is over.
func TestPurgeLoop(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(c *app.Config) {
		c.DeleteGrace = time.Millisecond
		c.ReconcileInterval = 20 * time.Millisecond
	})
	s.app.Start(context.Background())
	ctx := context.Background()
	o := s.signUp("acme")
	keep := s.signUp("globex")
	if _, err := s.asOperator().Operator.DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: "acme"})); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "purge", func() bool { return s.status(o.tenant.GetId()) == tenancyv1.TenantStatus_TENANT_STATUS_DELETED })
	if s.schemaExists(o.tenant.GetSchema()) || s.roleExists(o.tenant.GetSchema()) {
		t.Fatal("schema or role left after purge")
	}
	if !s.schemaExists(keep.tenant.GetSchema()) || s.status("globex") != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE {
		t.Fatal("purge touched another tenant")
	}
}

// An operator's immediate delete and the purge loop can take the same tenant at once; the one
// that finishes second must answer with the deleted tenant, not "not found".
func TestDeleteNowRacesThePurgeLoop(t *testing.T) {
	t.Parallel()
	s := newStack(t, func(c *app.Config) {
		c.DeleteGrace = time.Millisecond
		c.ReconcileInterval = time.Millisecond
	})
	s.app.Start(context.Background())
	ctx := context.Background()
	for _, slug := range []string{"race-a", "race-b", "race-c", "race-d"} {
		o := s.signUp(slug)
		if _, err := s.asOperator().Operator.DeleteTenant(ctx, connect.NewRequest(&tenancyv1.DeleteTenantRequest{Tenant: slug, Now: true})); err != nil {
			t.Fatalf("%s: %v", slug, err)
		}
		if got := s.status(o.tenant.GetId()); got != tenancyv1.TenantStatus_TENANT_STATUS_DELETED {
			t.Fatalf("%s: status %v", slug, got)
		}
	}
}
