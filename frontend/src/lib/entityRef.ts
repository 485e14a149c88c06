// Entity references, "[kind:][namespace/]name", as Backstage writes them.

export interface EntityName {
  kind: string;
  namespace: string;
  name: string;
}

// parseRef splits a reference; missing parts come from defaults. It returns null when a
// required part is still missing or a part is empty.
export function parseRef(
  ref: string,
  defaults: { kind?: string; namespace?: string } = {},
): EntityName | null {
  let rest = ref.trim();
  let kind = defaults.kind ?? "";
  let namespace = defaults.namespace ?? "default";
  const colon = rest.indexOf(":");
  if (colon >= 0) {
    kind = rest.slice(0, colon);
    rest = rest.slice(colon + 1);
  }
  const slash = rest.indexOf("/");
  if (slash >= 0) {
    namespace = rest.slice(0, slash);
    rest = rest.slice(slash + 1);
  }
  if (kind === "" || namespace === "" || rest === "" || rest.includes("/") || rest.includes(":")) {
    return null;
  }
  return { kind, namespace, name: rest };
}

export function formatRef(e: EntityName): string {
  return `${e.kind}:${e.namespace}/${e.name}`.toLowerCase();
}

// entityHref is the app's link to an entity page.
export function entityHref(e: EntityName): string {
  const parts = [e.kind, e.namespace, e.name].map((p) => encodeURIComponent(p.toLowerCase()));
  return `#/catalog/entity/${parts.join("/")}`;
}

// refHref links a reference, or returns null when it does not parse.
export function refHref(ref: string): string | null {
  const e = parseRef(ref);
  return e ? entityHref(e) : null;
}
