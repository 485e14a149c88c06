import { Code, ConnectError } from "@connectrpc/connect";
import { useState, type FormEvent } from "react";
import { authClient, expiry, hostTenant, roleName, session } from "../api";
import { ErrorBanner, Field, ViolationList } from "../components/ui";
import { navigate } from "../hooks";
import { tenantHeader } from "../lib/auth";
import { sharedOrigin } from "../lib/names";
import { isPublicRoute, parseRoute } from "../lib/route";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";

const fields = ["tenant", "email", "password"] as const;

// email and created arrive from a sign-up made on another org's host (see SignUpPage).
export function LoginPage(props: { email?: string; created?: string }) {
  const [tenant, setTenant] = useState(() => hostTenant || props.created || session.tenant());
  const [email, setEmail] = useState(props.email ?? "");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const v = violationsByField(fieldViolations(error), fields);
  // The gateway answers NotFound for an org it does not know; that belongs to the org field.
  const unknownOrg = error instanceof ConnectError && error.code === Code.NotFound;
  const tenantErrors = unknownOrg ? ["no organization has this slug"] : v.byField.tenant;
  const other = sharedOrigin(window.location);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const slug = hostTenant || tenant.trim().toLowerCase();
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
      {session.ended && !props.created && !error && (
        <p className="notice neutral" role="status">
          Your session has ended. Log in again to continue.
        </p>
      )}
      {props.created && !error && (
        <p className="notice" role="status">
          Your organization <code>{props.created}</code> is ready. Log in to start.
        </p>
      )}
      {!unknownOrg && <ErrorBanner error={error} hideViolations message={formErrorMessage(error, v)} />}
      <ViolationList violations={v.other} />
      <Field label="Organization" errors={tenantErrors} hint={hostTenant ? undefined : "Your org's slug, e.g. acme"}>
        <input
          value={hostTenant || tenant}
          onChange={(e) => setTenant(e.target.value)}
          readOnly={hostTenant !== ""}
          required
          autoComplete="organization"
        />
      </Field>
      {hostTenant && other && (
        <p className="muted small">
          Another organization? <a href={`${other}/#/login`}>Log in there</a>
        </p>
      )}
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
          autoFocus={props.email !== undefined}
        />
      </Field>
      <button type="submit" disabled={busy}>
        {busy ? "Logging in…" : "Log in"}
      </button>
      <p className="muted">
        <a href="#/forgot-password">Forgot your password?</a> · New to Atrium? <a href="#/signup">Create an organization</a>
      </p>
    </form>
  );
}
