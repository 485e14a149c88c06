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
