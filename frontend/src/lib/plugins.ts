import { PluginState, PluginTier, type TenantPlugin, type Unlock } from "../gen/atrium/entitlements/v1/entitlements_pb";
import type { FieldViolation } from "./violations";

// sortPlugins puts installed plugins first, then those an admin can install, then locked
// ones; by name within each group.
export function sortPlugins(list: TenantPlugin[]): TenantPlugin[] {
  const rank = (s: PluginState) => (s === PluginState.INSTALLED ? 0 : s === PluginState.AVAILABLE ? 1 : 2);
  return [...list].sort((a, b) => rank(a.state) - rank(b.state) || (a.plugin?.name ?? "").localeCompare(b.plugin?.name ?? ""));
}

export function stateLabel(s: PluginState): string {
  switch (s) {
    case PluginState.INSTALLED:
      return "Installed";
    case PluginState.AVAILABLE:
      return "Available";
    case PluginState.LOCKED:
      return "Locked";
    default:
      return "Unknown";
  }
}

export function tierLabel(t: PluginTier | undefined): string {
  return t === PluginTier.PREMIUM ? "Premium" : "Free";
}

// UnlockStep is what the marketplace offers on a locked plugin: a sentence and the action
// that follows it. "upgrade" opens the Billing page (plan comparison and Stripe Checkout);
// "trial" and "sales" write to Atrium; "dependencies" names the plugins to install first.
export interface UnlockStep {
  kind: "upgrade" | "dependencies" | "sales" | "trial";
  text: string;
  action: string;
  plan?: string;
  href?: string;
}

const salesMail = "mailto:sales@atrium.dev";

// unlockSteps turns the service's Unlock into what to do, most direct first.
export function unlockSteps(u: Unlock | undefined): UnlockStep[] {
  if (!u) return [];
  const steps: UnlockStep[] = [];
  switch (u.action) {
    case "upgrade_plan":
      steps.push({ kind: "upgrade", plan: u.plan, href: "#/billing", text: `Included in the ${u.plan || "higher"} plan.`, action: `Upgrade to ${u.plan || "a higher plan"}` });
      break;
    case "install_dependencies":
      steps.push({ kind: "dependencies", text: `Needs ${u.plugins.join(", ")} installed.`, action: `Install ${u.plugins.join(", ")} first` });
      break;
    case "contact_sales":
      steps.push({ kind: "sales", text: "Available through Atrium sales.", href: salesMail, action: "Contact sales" });
      break;
  }
  if (u.trialAvailable) {
    steps.push({ kind: "trial", text: "Atrium can turn on a free trial for your organization.", href: `${salesMail}?subject=Plugin%20trial`, action: "Request a trial" });
  }
  return steps;
}

// ErrorSchema is @rjsf's shape of errors: nested like the data, messages under __errors.
export interface ErrorSchema {
  __errors?: string[];
  [key: string]: ErrorSchema | string[] | undefined;
}

// configErrors files the server's field violations of a plugin config ("config/retention_days",
// "config/checks/0/id": the JSON pointer of the value the schema refused) under that field of
// the form, so each shows beside its input; the rest (the config as a whole, other fields)
// come back in other.
export function configErrors(violations: FieldViolation[]): { schema: ErrorSchema; other: FieldViolation[] } {
  const schema: ErrorSchema = {};
  const other: FieldViolation[] = [];
  for (const v of violations) {
    const m = /^config(\/.*)?$/.exec(v.field);
    if (!m) {
      other.push(v);
      continue;
    }
    const path = (m[1] ?? "")
      .split("/")
      .slice(1)
      .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    let node = schema;
    for (const p of path) {
      node = (node[p] ??= {}) as ErrorSchema;
    }
    (node.__errors ??= []).push(v.description || v.reason || "invalid");
  }
  return { schema, other };
}

// Usage is one limit as the home page shows it.
export interface Usage {
  name: string;
  label: string;
  used: number;
  // undefined: unlimited.
  limit?: number;
  known: boolean;
  // 0..1 of the limit (1 when over).
  fraction: number;
  level: "ok" | "near" | "full";
  // What to do when near or at the limit.
  next?: string;
}

const limitLabels: Record<string, string> = {
  seats: "Seats",
  catalog_entities: "Catalog entities",
  api_requests_per_minute: "API requests this minute",
  usage_events_per_month: "Usage events this month",
};

const nextSteps: Record<string, string> = {
  seats: "Remove members you no longer need, or upgrade the plan for more seats.",
  catalog_entities: "Delete entities you no longer need, or upgrade the plan for a larger catalog.",
  api_requests_per_minute: "Slow down scripts and API tokens, or upgrade the plan for a higher rate.",
  usage_events_per_month: "Events past the limit are not counted this month; upgrade the plan to keep counting.",
};

// Near a limit from this share on: early enough to act before anything is refused.
export const nearShare = 0.8;

// usageOf turns GetEntitlements' limits into bars. Retention is a setting, not something
// used up, so it is not a bar.
export function usageOf(limits: { name: string; limit: bigint; used: bigint; usedKnown: boolean }[]): Usage[] {
  const out: Usage[] = [];
  for (const l of limits) {
    const label = limitLabels[l.name];
    if (!label) continue;
    const used = Number(l.used);
    const limit = l.limit < 0n ? undefined : Number(l.limit);
    const fraction = limit === undefined ? 0 : limit === 0 ? 1 : Math.min(used / limit, 1);
    const level = limit === undefined ? "ok" : used >= limit ? "full" : fraction >= nearShare ? "near" : "ok";
    const u: Usage = { name: l.name, label, used, limit, known: l.usedKnown, fraction, level };
    if (level !== "ok") u.next = nextSteps[l.name];
    out.push(u);
  }
  return out;
}
