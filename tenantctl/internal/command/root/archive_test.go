package root_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	catalogv1 "atrium.dev/gen/atrium/catalog/v1"
	"atrium.dev/gen/atrium/catalog/v1/catalogv1connect"
	tenancyv1 "atrium.dev/gen/atrium/tenancy/v1"
	"atrium.dev/gen/atrium/tenancy/v1/tenancyv1connect"
	"atrium.dev/platform/tenantarchive"
	"atrium.dev/tenantctl/internal/command/root"
	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
)

// rowsOf runs a query and returns its rows as text, for comparing two tenants' data.
func (c *cli) rowsOf(t *testing.T, sql string, args ...any) []string {
	t.Helper()
	rows, err := c.db.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}

func (c *cli) tenantByRef(t *testing.T, ref string) *tenancyv1.Tenant {
	t.Helper()
	var tn tenancyv1.Tenant
	if err := protojson.Unmarshal([]byte(c.ok(t, "tenants", "get", ref, "-o", "json").stdout), &tn); err != nil {
		t.Fatal(err)
	}
	return &tn
}

// liveSlug reports whether a live (not failed or deleted) tenant has slug.
func (c *cli) liveSlug(t *testing.T, slug string) bool {
	t.Helper()
	return len(c.rowsOf(t, `SELECT id FROM tenancy.tenants WHERE slug = $1 AND status NOT IN ('failed', 'deleted')`, slug)) > 0
}

// join signs a user up to slug by invitation (as its owner's API token) and returns an API
// token of the new member.
func (c *cli) join(t *testing.T, ownerToken, slug, email string, role tenancyv1.Role) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	owner := tenancyv1connect.NewMemberServiceClient(c.st.HTTPClient, c.st.GatewayURL,
		connect.WithInterceptors(bearer(ownerToken), tenantHeader(slug)))
	if _, err := owner.InviteMember(ctx, connect.NewRequest(&tenancyv1.InviteMemberRequest{Email: email, Role: role})); err != nil {
		t.Fatal(err)
	}
	msg, err := c.st.Mail.Wait(ctx, email, "")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`token=([^\s]+)`).FindStringSubmatch(msg.Body)
	if m == nil {
		t.Fatalf("no token in %q", msg.Body)
	}
	tok, _ := url.QueryUnescape(m[1])
	auth := tenancyv1connect.NewAuthServiceClient(c.st.HTTPClient, c.st.GatewayURL, connect.WithInterceptors(tenantHeader(slug)))
	acc, err := auth.AcceptInvitation(ctx, connect.NewRequest(&tenancyv1.AcceptInvitationRequest{Token: tok, Password: "Archive-Member-Pass-9", DisplayName: "Member " + email}))
	if err != nil {
		t.Fatal(err)
	}
	mine := tenancyv1connect.NewMemberServiceClient(c.st.HTTPClient, c.st.GatewayURL,
		connect.WithInterceptors(bearer(acc.Msg.GetAccessToken()), tenantHeader(slug)))
	api, err := mine.CreateApiToken(ctx, connect.NewRequest(&tenancyv1.CreateApiTokenRequest{Name: "archive test"}))
	if err != nil {
		t.Fatal(err)
	}
	return api.Msg.GetSecret()
}

// tenantData is everything of a tenant the round trip must keep, without ids.
func (c *cli) tenantData(t *testing.T, tn *tenancyv1.Tenant) map[string][]string {
	t.Helper()
	s := tn.GetSchema()
	q := func(sql string) string { return strings.ReplaceAll(sql, "S.", `"`+s+`".`) }
	return map[string][]string{
		"entities":  c.rowsOf(t, q(`SELECT ref, body::text, etag, generation, spec_hash, location_id IS NOT NULL FROM S.catalog_entities ORDER BY ref`)),
		"relations": c.rowsOf(t, q(`SELECT source_ref, type, target_ref, inverse FROM S.catalog_relations ORDER BY 1, 2, 3`)),
		"search":    c.rowsOf(t, q(`SELECT e.ref, x.key, x.value, x.original, x.item FROM S.catalog_search x JOIN S.catalog_entities e ON e.uid = x.entity_uid ORDER BY 1, 2, 3, 4`)),
		"kinds":     c.rowsOf(t, q(`SELECT kind, api_versions, json_schema::text FROM S.catalog_custom_kinds ORDER BY kind`)),
		"state":     c.rowsOf(t, q(`SELECT entity_count, refresh_interval_seconds FROM S.catalog_state`)),
		"locations": c.rowsOf(t, q(`SELECT l.type, l.target, l.entity_ref, (SELECT count(*) FROM S.catalog_entities e WHERE e.location_id = l.id) FROM S.catalog_locations l ORDER BY 1, 2`)),
		"creds":     c.rowsOf(t, q(`SELECT host FROM S.catalog_credentials ORDER BY host`)),
		"audit":     c.rowsOf(t, q(`SELECT a.action, a.entity_ref, a.etag_after, e.uid IS NOT NULL FROM S.catalog_audit a LEFT JOIN S.catalog_entities e ON e.uid = a.entity_uid ORDER BY a.id`)),
		"counts":    c.rowsOf(t, q(`SELECT dim, grain, bucket, key, n, n2 FROM S.insights_counts WHERE dim IN (2, 3) ORDER BY 1, 2, 3, 4`)),
		// Only rows the test wrote: the gateway's own usage events keep arriving for arca.
		// Users are named by email, so a restored key "u:<id>" must name the new account.
		"insusers": c.rowsOf(t, q(`SELECT coalesce(u.email, x.user_key), x.first_seen FROM S.insights_users x
			LEFT JOIN tenancy.users u ON x.user_key = 'u:' || u.id WHERE x.user_key = 'k:tok1' OR x.first_seen < '2026-12-01' ORDER BY 1`)),
		"months":   c.rowsOf(t, q(`SELECT month, events, dropped FROM S.insights_months WHERE month < '2026-12-01' ORDER BY 1`)),
		"members":  c.rowsOf(t, `SELECT u.email, u.display_name, m.role FROM tenancy.memberships m JOIN tenancy.users u ON u.id = m.user_id WHERE m.tenant_id = $1 ORDER BY 1`, tn.GetId()),
		"tenant":   {tn.GetDisplayName()},
		"plan":     c.rowsOf(t, `SELECT plan FROM entitlements.tenants WHERE tenant_id = $1`, tn.GetId()),
		"installs": c.rowsOf(t, `SELECT plugin, installed, config::text FROM entitlements.installs WHERE tenant_id = $1 ORDER BY plugin`, tn.GetId()),
		"grants":   c.rowsOf(t, `SELECT plugin, expires_at, reason FROM entitlements.grants WHERE tenant_id = $1 ORDER BY plugin`, tn.GetId()),
		"limits":   c.rowsOf(t, `SELECT name, value FROM entitlements.limit_overrides WHERE tenant_id = $1 ORDER BY name`, tn.GetId()),
	}
}

// rewrite changes an archive's files with edit (name -> content) and writes it to a new file;
// fix recomputes the manifest's sizes and checksums after the edit.
func rewrite(t *testing.T, src, dst string, fix bool, edit func(name string, b []byte) []byte) {
	t.Helper()
	raw, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	files := map[string][]byte{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = edit(h.Name, b)
		order = append(order, h.Name)
	}
	if fix {
		var m tenantarchive.Manifest
		if err := json.Unmarshal(files[tenantarchive.ManifestFile], &m); err != nil {
			t.Fatal(err)
		}
		for i, p := range m.Parts {
			sum := sha256.Sum256(files[p.File])
			m.Parts[i].SHA256, m.Parts[i].Bytes = hex.EncodeToString(sum[:]), int64(len(files[p.File]))
		}
		files[tenantarchive.ManifestFile] = edit(tenantarchive.ManifestFile, []byte(tenantarchive.ManifestJSON(m)))
	}
	var buf bytes.Buffer
	gw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gw)
	for _, n := range order {
		_ = tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		_, _ = tw.Write(files[n])
	}
	_ = tw.Close()
	_ = gw.Close()
	if err := os.WriteFile(dst, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testArchive: tenants export / import round trip, who may export what, and bad archives.
func testArchive(t *testing.T, c *cli) {
	ctx := context.Background()
	dir := t.TempDir()
	token := tenantToken(t, c, "arca")
	withToken := func(args ...string) []string { return append([]string{"--token", token}, args...) }

	// Data in every service: entities with relations (catalog import), a custom kind, the
	// refresh setting, a credential, a Location owning an entity; members; plan, a plugin
	// config and a grant; Insights rollups.
	src := filepath.Join(dir, "catalog")
	writeFiles(t, src, map[string]string{
		"teams.yaml":    "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: vault\nspec:\n  type: team\n  children: []\n",
		"services.yaml": componentYAML("ledger", "group:vault") + "---\n" + componentYAML("teller", "group:vault"),
	})
	c.ok(t, withToken("catalog", "import", "--tenant", "arca", src)...)
	locs := catalogv1connect.NewLocationServiceClient(c.st.HTTPClient, c.st.GatewayURL, connect.WithInterceptors(bearer(token), tenantHeader("arca")))
	if _, err := locs.SetCustomKind(ctx, connect.NewRequest(&catalogv1.SetCustomKindRequest{Kind: &catalogv1.CustomKind{Kind: "Vault", ApiVersions: []string{"arca.example.com/v1"}}})); err != nil {
		t.Fatal(err)
	}
	if _, err := locs.SetRefreshInterval(ctx, connect.NewRequest(&catalogv1.SetRefreshIntervalRequest{Seconds: 600})); err != nil {
		t.Fatal(err)
	}
	const secret = "ghp_archive-secret-never-in-clear"
	if _, err := locs.SetCredential(ctx, connect.NewRequest(&catalogv1.SetCredentialRequest{Host: "git.arca.example.com", Token: secret})); err != nil {
		t.Fatal(err)
	}
	a := c.tenantByRef(t, "arca")
	schema := `"` + a.GetSchema() + `"`
	if _, err := c.db.Exec(ctx, `INSERT INTO `+schema+`.catalog_locations (id, type, target, entity_ref) VALUES
		('0190a000-0000-7000-8000-000000000001', 'url', 'https://git.arca.example.com/cat/catalog-info.yaml', 'location:default/generated-x');
		UPDATE `+schema+`.catalog_entities SET location_id = '0190a000-0000-7000-8000-000000000001' WHERE name = 'teller'`); err != nil {
		t.Fatal(err)
	}
	memberToken := c.join(t, token, "arca", "pat@arca.example.com", tenancyv1.Role_ROLE_MEMBER)
	c.join(t, token, "arca", "ada@arca.example.com", tenancyv1.Role_ROLE_ADMIN)
	c.ok(t, "plans", "set", "--tenant", "arca", "--plan", "team", "--reason", "archive test")
	c.ok(t, "plugins", "grant", "--tenant", "arca", "--plugin", "insights", "--until", "30d", "--reason", "archive test")
	c.ok(t, "limits", "set", "--tenant", "arca", "--name", "seats", "--value", "40", "--reason", "archive test")
	if _, err := c.db.Exec(ctx, `UPDATE entitlements.installs SET config = '{"color": "teal"}' WHERE tenant_id = $1 AND installed`, a.GetId()); err != nil {
		t.Fatal(err)
	}
	owner := c.rowsOf(t, `SELECT id FROM tenancy.users WHERE tenant_id = $1 AND email = 'owner@arca.example.com'`, a.GetId())[0]
	if _, err := c.db.Exec(ctx, `INSERT INTO `+schema+`.insights_users VALUES ('u:`+owner+`', 1, '2026-11-02', '2026-11-30'), ('k:tok1', 2, '2026-11-03', '2026-11-03') ON CONFLICT (user_key) DO UPDATE SET first_seen = excluded.first_seen;
		INSERT INTO `+schema+`.insights_counts VALUES (2, 'd', '2026-11-02', 'component:default/ledger', 7, 0), (3, 'w', '2026-10-26', 'ledger', 3, 1) ON CONFLICT DO NOTHING;
		INSERT INTO `+schema+`.insights_months VALUES ('2026-11-01', 10, 0) ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	want := c.tenantData(t, a)
	for _, k := range []string{"entities", "relations", "search", "kinds", "locations", "creds", "counts", "insusers", "months", "installs", "grants", "limits"} {
		if len(want[k]) == 0 {
			t.Fatalf("set-up left %s empty", k)
		}
	}

	archive := filepath.Join(dir, "arca.tar.gz")
	t.Run("round trip", func(t *testing.T) {
		r := c.ok(t, "tenants", "export", "arca", "-f", archive, "-o", "json")
		exp := decode[struct {
			File     string                 `json:"file"`
			Bytes    int64                  `json:"bytes"`
			Manifest tenantarchive.Manifest `json:"manifest"`
		}](t, r.stdout)
		if exp.File != archive || exp.Bytes == 0 || exp.Manifest.Version != tenantarchive.Version || len(exp.Manifest.Parts) != 4 {
			t.Fatalf("export: %s", r.stdout)
		}
		if !strings.Contains(r.stderr, "exporting arca") {
			t.Errorf("no progress on stderr: %q", r.stderr)
		}
		if _, err := os.Stat(archive + ".partial"); !os.IsNotExist(err) {
			t.Errorf("the partial file is left: %v", err)
		}
		// Never a password hash or a credential in clear.
		ar, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		gz, _ := gzip.NewReader(ar)
		all, _ := io.ReadAll(gz)
		ar.Close()
		if bytes.Contains(all, []byte(secret)) || bytes.Contains(all, []byte("$argon2")) || bytes.Contains(all, []byte("password")) {
			t.Fatal("the archive holds a secret")
		}

		r = c.ok(t, "tenants", "import", archive, "--slug", "arcb", "-o", "json")
		var imp tenancyv1.ImportTenantArchiveResponse
		if err := protojson.Unmarshal([]byte(r.stdout), &imp); err != nil {
			t.Fatal(err)
		}
		b := imp.GetTenant()
		if b.GetSlug() != "arcb" || b.GetStatus() != tenancyv1.TenantStatus_TENANT_STATUS_ACTIVE || b.GetId() == a.GetId() || imp.GetMembersInvited() != 3 {
			t.Fatalf("import: %s", r.stdout)
		}
		if imp.GetRecords()["catalog"] == 0 || len(imp.GetNotes()) != 0 {
			t.Errorf("import records %v, notes %v", imp.GetRecords(), imp.GetNotes())
		}
		got := c.tenantData(t, b)
		for k, w := range want {
			if k == "tenant" {
				continue
			}
			if !slices.Equal(got[k], w) {
				t.Errorf("%s differs:\n got %q\nwant %q", k, got[k], w)
			}
		}
		// Its own ids: no entity uid, Location id or account in common.
		if n := c.rowsOf(t, `SELECT uid FROM "`+a.GetSchema()+`".catalog_entities INTERSECT SELECT uid FROM "`+b.GetSchema()+`".catalog_entities`); len(n) != 0 {
			t.Errorf("shared entity uids: %v", n)
		}
		if n := c.rowsOf(t, `SELECT id FROM "`+a.GetSchema()+`".catalog_locations INTERSECT SELECT id FROM "`+b.GetSchema()+`".catalog_locations`); len(n) != 0 {
			t.Errorf("shared Location ids: %v", n)
		}
		if n := c.rowsOf(t, `SELECT user_id FROM tenancy.memberships WHERE tenant_id = $1 INTERSECT SELECT user_id FROM tenancy.memberships WHERE tenant_id = $2`, a.GetId(), b.GetId()); len(n) != 0 {
			t.Errorf("shared accounts: %v", n)
		}
		// Members choose their passwords from a mailed link; the old one does not work.
		mctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := c.st.Mail.Wait(mctx, "pat@arca.example.com", "is ready"); err != nil {
			t.Error(err)
		}
		auth := tenancyv1connect.NewAuthServiceClient(c.st.HTTPClient, c.st.GatewayURL, connect.WithInterceptors(tenantHeader("arcb")))
		if _, err := auth.Login(ctx, connect.NewRequest(&tenancyv1.LoginRequest{Email: "pat@arca.example.com", Password: "Archive-Member-Pass-9"})); err == nil {
			t.Error("the source's password logs in to the imported tenant")
		}
		// Audited.
		events := c.ok(t, "audit", "--tenant", "arcb", "-o", "json").stdout
		if !strings.Contains(events, "tenant.import") {
			t.Errorf("no tenant.import in the audit log: %s", events)
		}
		if events := c.ok(t, "audit", "--tenant", "arca", "-o", "json").stdout; !strings.Contains(events, "tenant.export") {
			t.Errorf("no tenant.export in the audit log: %s", events)
		}
		// The table output names the new tenant and its counts.
		if r := c.ok(t, "tenants", "import", archive, "--slug", "arcc"); !strings.Contains(r.stdout, "arcc") || !strings.Contains(r.stdout, "catalog") {
			t.Errorf("table:\n%s", r.stdout)
		}
	})

	t.Run("who may export", func(t *testing.T) {
		// A tenant admin exports their own tenant, through TenantService.ExportTenant.
		own := filepath.Join(dir, "own.tar.gz")
		c.ok(t, "tenants", "export", "arca", "--token", token, "-f", own)
		if st, err := os.Stat(own); err != nil || st.Size() == 0 {
			t.Fatalf("own export: %v", err)
		}
		// Not another tenant, not as a plain member, not the operator API with a tenant token.
		other := filepath.Join(dir, "other.tar.gz")
		if r := c.run(t, "", "tenants", "export", "globex", "--token", token, "-f", other); r.code == 0 {
			t.Fatal("arca's token exported globex")
		}
		if r := c.run(t, "", "tenants", "export", "arca", "--token", memberToken, "-f", other); r.code == 0 || !strings.Contains(r.stderr, "permission_denied") {
			t.Fatalf("a member exported: exit %d %s", r.code, r.stderr)
		}
		op := tenancyv1connect.NewOperatorServiceClient(c.st.HTTPClient, c.st.GatewayURL, connect.WithInterceptors(bearer(token)))
		s, err := op.ExportTenantArchive(ctx, connect.NewRequest(&tenancyv1.ExportTenantArchiveRequest{Tenant: "globex"}))
		if err == nil {
			for s.Receive() {
				t.Fatal("a tenant token used the operator export")
			}
			err = s.Err()
		}
		if err == nil {
			t.Fatal("no error")
		}
		if _, err := os.Stat(other); !os.IsNotExist(err) {
			t.Errorf("a refused export left a file: %v", err)
		}
	})

	t.Run("bad archives", func(t *testing.T) {
		garbage := filepath.Join(dir, "garbage.tar.gz")
		if err := os.WriteFile(garbage, []byte("this is not an archive"), 0o600); err != nil {
			t.Fatal(err)
		}
		truncated := filepath.Join(dir, "truncated.tar.gz")
		raw, _ := os.ReadFile(archive)
		_ = os.WriteFile(truncated, raw[:len(raw)/2], 0o600)
		version := filepath.Join(dir, "version.tar.gz")
		rewrite(t, archive, version, false, func(name string, b []byte) []byte {
			if name == tenantarchive.ManifestFile {
				return bytes.Replace(b, []byte(`"version": 1`), []byte(`"version": 99`), 1)
			}
			return b
		})
		altered := filepath.Join(dir, "altered.tar.gz")
		rewrite(t, archive, altered, false, func(name string, b []byte) []byte {
			if name == "catalog.jsonl" {
				return bytes.Replace(b, []byte("ledger"), []byte("leDger"), 1)
			}
			return b
		})
		// Consistent checksums, but a record the catalog refuses: the tenant is made, then
		// rolled back.
		refused := filepath.Join(dir, "refused.tar.gz")
		rewrite(t, archive, refused, true, func(name string, b []byte) []byte {
			if name == "catalog.jsonl" {
				return append(b, []byte(`{"table":"catalog_secrets","row":{}}`+"\n")...)
			}
			return b
		})
		for _, tt := range []struct{ name, file, want string }{
			{"corrupt", garbage, "not a gzip file"},
			{"truncated", truncated, "truncated"},
			{"wrong version", version, "version 99; this server reads version 1"},
			{"checksum mismatch", altered, "catalog.jsonl: checksum mismatch"},
			{"refused record", refused, `import rolled back, nothing was created: unknown catalog table "catalog_secrets"`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				slug := "bad-" + strings.ReplaceAll(tt.name, " ", "-")
				r := c.run(t, "", "tenants", "import", tt.file, "--slug", slug)
				if r.code != root.ExitError || !strings.Contains(r.stderr, tt.want) {
					t.Fatalf("exit %d, want %d; stderr lacks %q:\n%s", r.code, root.ExitError, tt.want, r.stderr)
				}
				if c.liveSlug(t, slug) {
					t.Fatalf("a tenant %s was left", slug)
				}
				for _, s := range c.rowsOf(t, `SELECT schema FROM tenancy.tenants WHERE slug = $1`, slug) {
					if c.schemaExists(t, s) {
						t.Errorf("schema %s left", s)
					}
				}
			})
		}
		// A slug in use is refused before anything is made.
		if r := c.run(t, "", "tenants", "import", archive); r.code != root.ExitError || !strings.Contains(r.stderr, "slug is already taken") {
			t.Fatalf("import over arca: exit %d %s", r.code, r.stderr)
		}
	})
}

// testMoves lists moves (none on a single-shard stack, which must still print the header).
func testMoves(t *testing.T, c *cli) {
	r := c.ok(t, "tenants", "moves")
	if !strings.Contains(r.stdout, "MOVE") || !strings.Contains(r.stdout, "PROGRESS") {
		t.Errorf("table:\n%s", r.stdout)
	}
	r = c.ok(t, "tenants", "moves", "arca", "-o", "json")
	if moves := decode[struct {
		Moves []any `json:"moves"`
	}](t, r.stdout); len(moves.Moves) != 0 {
		t.Errorf("json: %s", r.stdout)
	}
	if r := c.run(t, "", "tenants", "moves", "nobody-here"); r.code != root.ExitError {
		t.Errorf("unknown tenant: exit %d", r.code)
	}
}
