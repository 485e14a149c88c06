// Org slugs: the DNS label that names a tenant (<slug>.localhost).

const maxSlug = 40;

// suggestSlug turns an org name into a slug candidate; the server has the final word.
export function suggestSlug(orgName: string): string {
  return orgName
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+/, "")
    .slice(0, maxSlug)
    .replace(/-+$/, "");
}

// tenantFromHost returns the slug of a "<slug>.localhost" host name, or "" for any other.
export function tenantFromHost(hostname: string): string {
  const m = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)\.localhost$/i.exec(hostname);
  return m ? m[1].toLowerCase() : "";
}

// The parts of window.location the origin helpers read.
export interface PageLocation {
  protocol: string;
  hostname: string;
  port: string;
}

// usesTenantHosts reports whether the page runs under the "<slug>.localhost" scheme, where
// the gateway takes the tenant from the host and rejects a header naming another one.
function usesTenantHosts(loc: PageLocation): boolean {
  return loc.hostname.toLowerCase() === "localhost" || tenantFromHost(loc.hostname) !== "";
}

function origin(loc: PageLocation, hostname: string): string {
  return `${loc.protocol}//${hostname}${loc.port ? `:${loc.port}` : ""}`;
}

// portalOrigin is the origin of slug's own portal, e.g. "http://acme.localhost:8080", or ""
// when the page does not run under the <slug>.localhost scheme.
export function portalOrigin(slug: string, loc: PageLocation): string {
  if (!slug || !usesTenantHosts(loc) || tenantFromHost(`${slug}.localhost`) !== slug) return "";
  return origin(loc, `${slug}.localhost`);
}

// sharedOrigin is the origin that serves every org ("http://localhost:8080") when the page
// runs on one org's host, else "".
export function sharedOrigin(loc: PageLocation): string {
  return tenantFromHost(loc.hostname) ? origin(loc, "localhost") : "";
}

// needsOtherHost reports whether a session for slug cannot work on this page's host: the
// host names another org.
export function needsOtherHost(slug: string, loc: PageLocation): boolean {
  const host = tenantFromHost(loc.hostname);
  return host !== "" && host !== slug;
}

// slugProblem mirrors tenancy's validate.Slug for the rules a person can see while typing
// (reserved names stay the server's word): "" when the slug may be valid.
export function slugProblem(s: string): string {
  if (s === "") return "required";
  if (s.length < 3 || s.length > maxSlug) return "must be 3 to 40 characters";
  if (s.toLowerCase() !== s) return "must be lowercase";
  if (!/^[a-z0-9-]+$/.test(s)) return "may only contain a-z, 0-9 and -";
  if (!/^[a-z]/.test(s)) return "must start with a letter";
  if (s.endsWith("-")) return "must not end with -";
  if (s.includes("--")) return "must not contain --";
  return "";
}

export interface PasswordRule {
  text: string;
  met: boolean;
}

// passwordRules lists tenancy's password rules (validate.Password) with whether pw meets
// each, so the form shows them before a submit fails rather than after.
export function passwordRules(pw: string, slug: string, email: string): PasswordRule[] {
  const classes = [/\p{Ll}/u, /\p{Lu}/u, /\p{Nd}/u, /[^\p{Ll}\p{Lu}\p{Nd}]/u].filter((re) => re.test(pw)).length;
  const local = email.split("@")[0]?.toLowerCase() ?? "";
  const lower = pw.toLowerCase();
  const contains = (part: string) => part.length >= 3 && lower.includes(part);
  return [
    { text: "10 to 128 characters", met: [...pw].length >= 10 && new TextEncoder().encode(pw).length <= 128 },
    { text: "two kinds of character (lowercase, uppercase, digits, symbols)", met: classes >= 2 },
    { text: "not your organization's slug or your email name", met: pw !== "" && !contains(slug.toLowerCase()) && !contains(local) },
  ];
}
