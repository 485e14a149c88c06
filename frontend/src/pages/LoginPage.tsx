import { useState, type FormEvent } from "react";
import { authClient, expiry, roleName, session } from "../api";
import { Field, ErrorBanner, ViolationList } from "../components/ui";
import { navigate } from "../hooks";
import { isPublicRoute, parseRoute } from "../lib/route";
import { tenantHeader } from "../lib/auth";
import { tenantFromHost } from "../lib/names";
import { fieldViolations, violationsByField } from "../lib/violations";

const fields = ["tenant", "email", "password"] as const;

export function LoginPage() {
  const [tenant, setTenant] = useState(() => tenantFromHost(window.location.hostname) || session.tenant());
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const v = violationsByField(fieldViolations(error), fields);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const slug = tenant.trim().toLowerCase();
    try {
      const r = await authClient.login({ email, password }, { headers: { [tenantHeader]: slug } });
      session.signIn({
        tenant: slug,
        email: r.user?.email || email,
        role: roleName(r.role),
        accessToken: r.accessToken,
        refreshToken: r.refreshToken,
        accessExpiresAt: expiry(r.accessTokenExpireTime),
      });
      // Signed out on the way to some page: stay there; from the login page itself: home.
      if (isPublicRoute(parseRoute(window.location.hash))) navigate("#/");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card narrow" onSubmit={submit}>
      <h1>Log in</h1>
      <ErrorBanner error={error} hideViolations />
      <ViolationList violations={v.other} />
      <Field label="Organization" errors={v.byField.tenant} hint="Your org's slug, e.g. acme">
        <input value={tenant} onChange={(e) => setTenant(e.target.value)} required autoComplete="organization" />
      </Field>
      <Field label="Email" errors={v.byField.email}>
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="username" />
      </Field>
      <Field label="Password" errors={v.byField.password}>
        <input
          type="password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          required
          autoComplete="current-password"
        />
      </Field>
      <button type="submit" disabled={busy}>
        {busy ? "Logging in…" : "Log in"}
      </button>
      <p className="muted">
        New to Atrium? <a href="#/signup">Create an organization</a>
      </p>
    </form>
  );
}
