// The audit log's filters, as the #/audit URL keeps them.

export type AuditQuery = { actor: string; action: string; from: string; to: string };

const datePattern = /^\d{4}-\d{2}-\d{2}$/;

export function auditQuery(search: URLSearchParams): AuditQuery {
  const date = (k: string) => {
    const v = search.get(k) ?? "";
    return datePattern.test(v) ? v : "";
  };
  return { actor: search.get("actor") ?? "", action: search.get("action") ?? "", from: date("from"), to: date("to") };
}

// auditSearch is the query string of q (empty when nothing is filtered).
export function auditSearch(q: AuditQuery): string {
  const p = new URLSearchParams();
  if (q.actor.trim()) p.set("actor", q.actor.trim());
  if (q.action.trim()) p.set("action", q.action.trim());
  if (datePattern.test(q.from)) p.set("from", q.from);
  if (datePattern.test(q.to)) p.set("to", q.to);
  return p.toString();
}

// knownActions are the actions tenancy records for an organization, offered as suggestions.
export const knownActions = [
  "tenant.",
  "tenant.signup",
  "tenant.update",
  "tenant.delete",
  "tenant.restore",
  "member.",
  "member.update_role",
  "member.remove",
  "member.transfer_ownership",
  "invitation.",
  "invitation.create",
  "invitation.accept",
  "invitation.resend",
  "invitation.revoke",
  "api_token.",
  "api_token.create",
  "api_token.revoke",
  "password_reset.",
];
