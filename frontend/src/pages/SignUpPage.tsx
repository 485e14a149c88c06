import { useState, type FormEvent } from "react";
import { authClient, expiry, session, sessionHeaders, tenantClient } from "../api";
import { tenantHeader } from "../lib/auth";
import { ErrorBanner, Field, ViolationList } from "../components/ui";
import { navigate } from "../hooks";
import { needsOtherHost, passwordRules, portalOrigin, slugProblem, suggestSlug } from "../lib/names";
import { isPublicRoute, loginHref, parseRoute } from "../lib/route";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";

const fields = ["orgName", "slug", "adminEmail", "adminPassword"] as const;

export function SignUpPage() {
  const [orgName, setOrgName] = useState("");
  const [slug, setSlug] = useState("");
  const [slugEdited, setSlugEdited] = useState(false);
  const [adminEmail, setAdminEmail] = useState("");
  const [adminPassword, setAdminPassword] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const v = violationsByField(fieldViolations(error), fields);
  const shownSlug = slugEdited ? slug : suggestSlug(orgName);
  // Preview the portal's address only for a slug that can be one.
  const portal = slugProblem(shownSlug) === "" ? portalOrigin(shownSlug, window.location) : "";
  const rules = passwordRules(adminPassword, shownSlug, adminEmail);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const r = await tenantClient.signUp({ orgName, slug: shownSlug, adminEmail, adminPassword });
      const tenant = r.tenant?.slug || shownSlug;
      // On another org's host (demo.localhost) the new session cannot work: the host names
      // the org. The new org's own portal takes over, its login filled in.
      if (needsOtherHost(tenant, window.location)) {
        window.location.assign(`${portalOrigin(tenant, window.location)}/${loginHref(r.user?.email || adminEmail, tenant)}`);
        return;
      }
      // Sign-up hands the refresh token to the page; one cookie-mode Refresh trades it for
      // the httpOnly cookie, so the page keeps no refresh token, as after a login.
      const c = await authClient.refresh(
        { refreshToken: r.refreshToken },
        { headers: { [tenantHeader]: tenant, ...sessionHeaders } },
      );
      session.signIn({
        tenant,
        email: c.user?.email || r.user?.email || adminEmail,
        role: "owner",
        accessToken: c.accessToken,
        accessExpiresAt: expiry(c.accessTokenExpireTime),
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
    <form className="card narrow" onSubmit={submit} noValidate>
      <h1>Create your organization</h1>
      <ErrorBanner error={error} hideViolations message={formErrorMessage(error, v)} />
      <ViolationList violations={v.other} />
      <Field label="Organization name" errors={v.byField.orgName}>
        <input value={orgName} onChange={(e) => setOrgName(e.target.value)} autoComplete="organization" />
      </Field>
      <Field
        label="Slug"
        errors={v.byField.slug}
        hint={
          shownSlug !== "" && slugProblem(shownSlug) !== ""
            ? `The slug ${slugProblem(shownSlug)}: 3 to 40 lowercase letters, digits and dashes, starting with a letter`
            : portal
              ? `Your portal: ${portal}`
              : "3 to 40 lowercase letters, digits and dashes, starting with a letter"
        }
      >
        <input
          value={shownSlug}
          onChange={(e) => {
            setSlugEdited(true);
            setSlug(e.target.value);
          }}
        />
      </Field>
      <Field label="Your email" errors={v.byField.adminEmail}>
        <input type="email" value={adminEmail} onChange={(e) => setAdminEmail(e.target.value)} autoComplete="email" />
      </Field>
      <Field
        label="Password"
        errors={v.byField.adminPassword}
        hint={
          <ul className="rules" aria-label="Password rules">
            {rules.map((r) => (
              <li key={r.text} className={r.met ? "met" : undefined}>
                <span aria-hidden="true">{r.met ? "✓" : "•"}</span> {r.text}
                <span className="sr-only">{r.met ? " (met)" : " (not met yet)"}</span>
              </li>
            ))}
          </ul>
        }
      >
        <input
          type="password"
          value={adminPassword}
          onChange={(e) => setAdminPassword(e.target.value)}
          autoComplete="new-password"
        />
      </Field>
      <button type="submit" disabled={busy}>
        {busy ? "Creating…" : "Sign up"}
      </button>
      <p className="muted">
        Already have one? <a href="#/login">Log in</a>
      </p>
    </form>
  );
}
