import { useState, type FormEvent } from "react";
import { authClient, expiry, hostTenant, roleName, session } from "../api";
import { ErrorBanner, Field, ViolationList } from "../components/ui";
import { navigate } from "../hooks";
import { tenantHeader } from "../lib/auth";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";

// The pages behind the links tenancy mails (invitation, password reset) and the request for a
// reset. Links name the org in the host (acme.localhost), so hostTenant is normally set; on a
// shared host the org is asked for.

function OrgField(props: { value: string; onChange: (v: string) => void; errors?: string[] }) {
  if (hostTenant) return null;
  return (
    <Field label="Organization" errors={props.errors} hint="Your org's slug, e.g. acme">
      <input value={props.value} onChange={(e) => props.onChange(e.target.value)} required autoComplete="organization" />
    </Field>
  );
}

function headers(org: string) {
  return { headers: { [tenantHeader]: hostTenant || org.trim().toLowerCase() } };
}

const acceptFields = ["token", "password", "displayName"] as const;

export function AcceptInvitationPage({ token }: { token: string }) {
  const [org, setOrg] = useState(session.tenant());
  const [displayName, setDisplayName] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const v = violationsByField(fieldViolations(error), acceptFields);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await authClient.acceptInvitation({ token, password, displayName }, headers(org));
      session.signIn({
        tenant: hostTenant || org.trim().toLowerCase(),
        email: r.user?.email ?? "",
        role: roleName(r.role),
        accessToken: r.accessToken,
        refreshToken: r.refreshToken,
        accessExpiresAt: expiry(r.accessTokenExpireTime),
      });
      navigate("#/");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card narrow" onSubmit={submit} noValidate>
      <h1>Join your team</h1>
      <p className="muted">Choose your name and password to accept the invitation.</p>
      <ErrorBanner error={error} hideViolations message={formErrorMessage(error, v)} />
      <ViolationList violations={v.other} />
      {(v.byField.token?.length ?? 0) > 0 && (
        <p className="notice" role="alert">
          {v.byField.token?.join("; ")}. Ask an admin to send the invitation again.
        </p>
      )}
      {!token && <p className="notice">This link has no invitation token. Open the link from the email again.</p>}
      <OrgField value={org} onChange={setOrg} />
      <Field label="Your name" errors={v.byField.displayName}>
        <input value={displayName} onChange={(e) => setDisplayName(e.target.value)} autoComplete="name" />
      </Field>
      <Field label="Password" errors={v.byField.password} hint="At least 12 characters">
        <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} required autoComplete="new-password" />
      </Field>
      <button type="submit" disabled={busy || !token}>
        {busy ? "Joining…" : "Accept invitation"}
      </button>
    </form>
  );
}

export function ForgotPasswordPage() {
  const [org, setOrg] = useState(session.tenant());
  const [email, setEmail] = useState("");
  const [error, setError] = useState<unknown>();
  const [sent, setSent] = useState(false);
  const [busy, setBusy] = useState(false);
  const v = violationsByField(fieldViolations(error), ["email"] as const);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await authClient.requestPasswordReset({ email }, headers(org));
      setSent(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="card narrow" onSubmit={submit} noValidate>
      <h1>Reset your password</h1>
      {sent ? (
        // The same answer whether or not the account exists.
        <p className="notice" role="status">
          If {email} has an account here, a reset link is on its way. It works once, for an hour.
        </p>
      ) : (
        <>
          <ErrorBanner error={error} hideViolations message={formErrorMessage(error, v)} />
          <ViolationList violations={v.other} />
          <OrgField value={org} onChange={setOrg} />
          <Field label="Email" errors={v.byField.email}>
            <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} required autoComplete="username" />
          </Field>
          <button type="submit" disabled={busy}>
            Send reset link
          </button>
        </>
      )}
      <p className="muted">
        <a href="#/login">Back to log in</a>
      </p>
    </form>
  );
}

const resetFields = ["token", "newPassword"] as const;

export function ResetPasswordPage({ token }: { token: string }) {
  const [org, setOrg] = useState(session.tenant());
  const [newPassword, setNewPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const v = violationsByField(fieldViolations(error), resetFields);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await authClient.resetPassword({ token, newPassword }, headers(org));
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  if (done) {
    return (
      <section className="card narrow">
        <h1>Password changed</h1>
        <p className="notice" role="status">
          Your password is changed and every other session is signed out. <a href="#/login">Log in</a>
        </p>
      </section>
    );
  }
  return (
    <form className="card narrow" onSubmit={submit} noValidate>
      <h1>Choose a new password</h1>
      <ErrorBanner error={error} hideViolations message={formErrorMessage(error, v)} />
      <ViolationList violations={v.other} />
      {(v.byField.token?.length ?? 0) > 0 && (
        <p className="notice" role="alert">
          {v.byField.token?.join("; ")}. <a href="#/forgot-password">Ask for a new link</a>
        </p>
      )}
      <OrgField value={org} onChange={setOrg} />
      <Field label="New password" errors={v.byField.newPassword} hint="At least 12 characters">
        <input type="password" value={newPassword} onChange={(e) => setNewPassword(e.target.value)} required autoComplete="new-password" />
      </Field>
      <button type="submit" disabled={busy || !token}>
        Change password
      </button>
    </form>
  );
}
