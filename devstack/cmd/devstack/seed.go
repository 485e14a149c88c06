package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/protocodec"
	"connectrpc.com/connect"
)

// demoTenant is the tenant `make up` seeds. The password is fixed so a restart logs in with
// it again; it is a local development login, printed on every start.
type demoTenant struct {
	Slug     string
	Name     string
	Email    string
	Password string
}

var defaultDemo = demoTenant{
	Slug:     "demo",
	Name:     "Demo Inc",
	Email:    "admin@demo.atrium.local",
	Password: "Atrium-Portal-Dev-1",
}

// apiTokenName names the API token devstack keeps in the tenantctl context; older tokens of
// this name are revoked when a new one is made.
const apiTokenName = "tenantctl (make up)"

// gatewayClients are the generated clients seeding uses, all through the gateway.
type gatewayClients struct {
	http *http.Client
	url  string
}

// credentials sets the bearer token and tenant of every call.
type credentials struct{ token, tenant string }

func (c credentials) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if c.token != "" {
			req.Header().Set("Authorization", "Bearer "+c.token)
		}
		if c.tenant != "" {
			req.Header().Set("Atrium-Tenant", c.tenant)
		}
		return next(ctx, req)
	}
}

func (c credentials) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

func (c credentials) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

func (g gatewayClients) opts(token, tenant string) []connect.ClientOption {
	return []connect.ClientOption{connect.WithInterceptors(credentials{token: token, tenant: tenant}), protocodec.ClientOption()}
}

// seeded is the demo tenant after seeding.
type seeded struct {
	Tenant      *tenancyv1.Tenant
	AccessToken string
	Created     bool
}

// seedDemo signs the demo tenant up through the gateway, or logs in when it exists already.
func seedDemo(ctx context.Context, g gatewayClients, d demoTenant) (seeded, error) {
	tenants := tenancyv1connect.NewTenantServiceClient(g.http, g.url, g.opts("", "")...)
	resp, err := tenants.SignUp(ctx, connect.NewRequest(&tenancyv1.SignUpRequest{
		OrgName:       d.Name,
		Slug:          d.Slug,
		AdminEmail:    d.Email,
		AdminPassword: d.Password,
	}))
	if err == nil {
		return seeded{Tenant: resp.Msg.GetTenant(), AccessToken: resp.Msg.GetAccessToken(), Created: true}, nil
	}
	if connect.CodeOf(err) != connect.CodeAlreadyExists {
		return seeded{}, fmt.Errorf("sign up %s: %w", d.Slug, err)
	}
	auth := tenancyv1connect.NewAuthServiceClient(g.http, g.url, g.opts("", d.Slug)...)
	login, err := auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: d.Email, Password: d.Password}))
	if err != nil {
		return seeded{}, fmt.Errorf("tenant %s exists but %s cannot log in with the demo password (changed?): %w", d.Slug, d.Email, err)
	}
	token := login.Msg.GetAccessToken()
	me := tenancyv1connect.NewTenantServiceClient(g.http, g.url, g.opts(token, d.Slug)...)
	got, err := me.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{}))
	if err != nil {
		return seeded{}, fmt.Errorf("get tenant %s: %w", d.Slug, err)
	}
	return seeded{Tenant: got.Msg.GetTenant(), AccessToken: token}, nil
}

// ensureAPIToken returns a working API token of the demo admin: existing, when it still
// works, else a new one (older tokens devstack made are revoked).
func ensureAPIToken(ctx context.Context, g gatewayClients, slug, accessToken, existing string) (string, error) {
	if existing != "" {
		probe := tenancyv1connect.NewTenantServiceClient(g.http, g.url, g.opts(existing, slug)...)
		if _, err := probe.GetTenant(ctx, connect.NewRequest(&tenancyv1.GetTenantRequest{})); err == nil {
			return existing, nil
		}
	}
	members := tenancyv1connect.NewMemberServiceClient(g.http, g.url, g.opts(accessToken, slug)...)
	created, err := members.CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: apiTokenName}))
	if err != nil {
		return "", fmt.Errorf("create API token: %w", err)
	}
	list, err := members.ListApiTokens(ctx, connect.NewRequest(&tenancyv1.ListApiTokensRequest{}))
	if err == nil {
		for _, t := range list.Msg.GetTokens() {
			if t.GetName() == apiTokenName && t.GetId() != created.Msg.GetToken().GetId() {
				_, _ = members.RevokeApiToken(ctx, connect.NewRequest(&tenancyv1.RevokeApiTokenRequest{Id: t.GetId()}))
			}
		}
	}
	return created.Msg.GetSecret(), nil
}

// operatorWorks reports whether an operator token is accepted by the gateway.
func operatorWorks(ctx context.Context, g gatewayClients, token string) bool {
	if token == "" {
		return false
	}
	ops := tenancyv1connect.NewOperatorServiceClient(g.http, g.url, g.opts(token, "")...)
	_, err := ops.ListShards(ctx, connect.NewRequest(&tenancyv1.ListShardsRequest{}))
	return err == nil
}

// maxExampleFile keeps a stray big file from being sent.
const maxExampleFile = 1 << 20

// importExamples sends every file under dir as one ImportBundle; the catalog starts from
// each catalog-info.yaml and follows Locations. Re-importing changes nothing.
func importExamples(ctx context.Context, g gatewayClients, slug, token, dir string) (*catalogv1.ImportBundleResponse, error) {
	files := map[string]string{}
	var roots []string
	hasCatalogInfo := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > maxExampleFile {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		files[rel] = string(data)
		if path.Base(rel) == "catalog-info.yaml" {
			hasCatalogInfo = true
		}
		if ext := path.Ext(rel); ext == ".yaml" || ext == ".yml" {
			roots = append(roots, rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no files")
	}
	req := &catalogv1.ImportBundleRequest{Files: files}
	if !hasCatalogInfo {
		req.Roots = roots
	}
	cat := catalogv1connect.NewCatalogServiceClient(g.http, g.url, g.opts(token, slug)...)
	resp, err := cat.ImportBundle(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return resp.Msg, nil
}
