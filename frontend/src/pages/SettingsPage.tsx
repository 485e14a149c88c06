import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { useId, useState, type FormEvent } from "react";
import { catalogClient, isAdminRole, memberClient, signOut, tenantClient } from "../api";
import { archiveFileName, collectArchive, formatBytes, progressText, type ArchiveProgress } from "../lib/archive";
import { Empty, ErrorBanner, ErrorState, Field, formatTime, Loading } from "../components/ui";
import { type AuditEvent, type Tenant } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { navigate, useLoad, useSession } from "../hooks";
import { auditQuery, auditSearch, knownActions, type AuditQuery } from "../lib/audit";
import { graceText } from "../lib/org";
import { org, useOrg } from "../lib/orgClient";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";
import { RenameForm } from "./HomePage";

// Organization settings for owners and admins: the name, an export of the catalog, deleting
// the organization (owners), and the audit log (#/audit).
export function SettingsPage({ audit, search }: { audit: boolean; search?: URLSearchParams }) {
  const s = useSession();
  const o = useOrg();
  if (!isAdminRole(s?.role)) {
    return (
      <section>
        <h1>Organization settings</h1>
        <p>Only owners and admins change the organization&apos;s settings or read its audit log.</p>
      </section>
    );
  }
  return (
    <section>
      <h1>{audit ? "Audit log" : "Organization settings"}</h1>
      <nav className="tabs" aria-label="Settings">
        <a href="#/settings" aria-current={audit ? undefined : "page"} className={audit ? undefined : "active"}>
          General
        </a>
        <a href="#/audit" aria-current={audit ? "page" : undefined} className={audit ? "active" : undefined}>
          Audit log
        </a>
      </nav>
      {audit ? (
        <AuditLog search={search ?? new URLSearchParams()} />
      ) : (
        <>
          {o.error !== undefined && <ErrorState error={o.error} onRetry={() => org.reload()} />}
          {o.loading && !o.tenant && <Loading />}
          {o.tenant && (
            <>
              <h2>Name</h2>
              <RenameForm tenant={o.tenant} onSaved={() => org.reload()} />
            </>
          )}
          <h2>Export the organization</h2>
          <p className="muted">
            One archive of everything the organization keeps here: the catalog (entities, Locations, custom kinds and
            settings; credentials stay encrypted), members without their passwords, installed plugins with their
            settings, and Insights reports. An operator can restore it as a new organization.
          </p>
          <ArchiveButton slug={s?.tenant ?? ""} />
          <h2>Export the catalog</h2>
          <p className="muted">Every entity as JSON, one file, to keep or import elsewhere.</p>
          <ExportButton slug={s?.tenant ?? "catalog"} />
          {o.tenant && <DeleteOrg tenant={o.tenant} grace={o.graceSeconds} owner={s?.role === "owner"} />}
        </>
      )}
    </section>
  );
}

// DeleteOrg deletes the organization after the owner types its slug. It explains first what
// happens: closed at once, restorable by an owner for the grace period, then gone.
function DeleteOrg({ tenant, grace, owner }: { tenant: Tenant; grace?: bigint; owner: boolean }) {
  const [confirm, setConfirm] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const v = violationsByField(fieldViolations(error), ["confirmSlug"] as const);
  const matches = confirm.trim().toLowerCase() === tenant.slug.toLowerCase();
  const noteId = useId();
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!matches) {
      setError(undefined);
      return;
    }
    setBusy(true);
    setError(undefined);
    try {
      const r = await tenantClient.scheduleTenantDeletion({ confirmSlug: confirm.trim() });
      org.set(r.tenant);
      navigate("#/");
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div className="danger-zone">
      <h2>Delete the organization</h2>
      <div id={noteId}>
        <p>
          Deleting <strong>{tenant.displayName}</strong> (<code>{tenant.slug}</code>) closes it at once for everyone: members
          cannot sign in, API tokens stop working and catalog sources stop syncing.
        </p>
        <p>
          Its data (catalog, members, tokens, usage) is kept for {graceText(grace)}, during which an owner can sign in and cancel
          the deletion. After that it is removed for good and the slug <code>{tenant.slug}</code> becomes free.
        </p>
      </div>
      {owner ? (
        <form className="inline-form" onSubmit={submit} noValidate aria-label="Delete the organization">
          <ErrorBanner error={error} hideViolations message={error !== undefined ? formErrorMessage(error, v) : undefined} />
          <Field label={`Type ${tenant.slug} to confirm`} errors={v.byField.confirmSlug}>
            <input value={confirm} onChange={(e) => setConfirm(e.target.value)} autoComplete="off" spellCheck={false} aria-describedby={noteId} />
          </Field>
          <button type="submit" className="danger" disabled={!matches || busy}>
            {busy ? "Deleting…" : "Delete organization"}
          </button>
        </form>
      ) : (
        <p className="muted">Only an owner can delete the organization.</p>
      )}
    </div>
  );
}

// DeletionPending replaces the portal while the organization is being deleted: when its data
// goes, and for owners the way back.
export function DeletionPending({ tenant }: { tenant: Tenant }) {
  const s = useSession();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const purge = tenant.purgeTime ? timestampDate(tenant.purgeTime) : undefined;
  async function cancel() {
    setBusy(true);
    setError(undefined);
    try {
      const r = await tenantClient.cancelTenantDeletion({});
      org.set(r.tenant);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section>
      <h1>{tenant.displayName} is scheduled for deletion</h1>
      <p>
        The organization is closed: members cannot sign in, API tokens do not work and sources do not sync. On{" "}
        <strong>{formatTime(purge)}</strong> its data is removed for good.
      </p>
      <ErrorBanner error={error} />
      {s?.role === "owner" ? (
        <p>
          <button type="button" onClick={cancel} disabled={busy}>
            {busy ? "Cancelling…" : "Cancel the deletion"}
          </button>{" "}
          <span className="muted">Everything comes back as it was.</span>
        </p>
      ) : (
        <p>Only an owner can cancel the deletion.</p>
      )}
      <p>
        <button
          type="button"
          className="secondary"
          onClick={() => {
            void signOut();
            navigate("#/login");
          }}
        >
          Log out
        </button>
      </p>
    </section>
  );
}

// AuditLog lists the organization's audit events, newest first, filtered by who, what and
// when (kept in the URL, so Back and reload keep them), a page at a time.
function AuditLog({ search }: { search: URLSearchParams }) {
  const q = auditQuery(search);
  const members = useLoad(() => memberClient.listMembers({ pageSize: 500 }), "audit-members");
  const emails = new Map((members.data?.members ?? []).map((m) => [`user:${m.user?.id ?? ""}`, m.user?.email ?? ""]));
  const [pages, setPages] = useState<{ key: string; tokens: string[] }>({ key: "", tokens: [""] });
  const key = auditSearch(q);
  const tokens = pages.key === key ? pages.tokens : [""];
  const pageToken = tokens[tokens.length - 1];
  const { data, error, loading, reload } = useLoad(
    () =>
      tenantClient.listTenantAuditEvents({
        actor: q.actor,
        action: q.action,
        startTime: q.from ? timestampFromDate(new Date(`${q.from}T00:00:00`)) : undefined,
        endTime: q.to ? timestampFromDate(new Date(new Date(`${q.to}T00:00:00`).getTime() + 86400000)) : undefined,
        pageSize: 50,
        pageToken,
      }),
    `${key}|${pageToken}`,
  );
  const filtered = key !== "";
  return (
    <>
      <AuditFilters q={q} members={[...emails]} />
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data && <Loading />}
      {data && data.events.length === 0 && (
        <Empty title={filtered ? "No events match these filters." : "No events yet."}>
          {filtered ? <a href="#/audit">Clear the filters</a> : "Changes to members, tokens and the organization appear here."}
        </Empty>
      )}
      {data && data.events.length > 0 && (
        <div className="table-wrap">
          <table className="responsive audit">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">Details</th>
              </tr>
            </thead>
            <tbody>
              {data.events.map((e) => (
                <AuditRow key={e.id} e={e} who={emails.get(e.actor)} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div className="pager">
        {tokens.length > 1 && (
          <button type="button" className="secondary" onClick={() => setPages({ key, tokens: tokens.slice(0, -1) })}>
            Newer
          </button>
        )}
        {data?.nextPageToken && (
          <button type="button" className="secondary" onClick={() => setPages({ key, tokens: [...tokens, data.nextPageToken] })}>
            Older
          </button>
        )}
      </div>
    </>
  );
}

function AuditRow({ e, who }: { e: AuditEvent; who?: string }) {
  const details = e.detailsJson && e.detailsJson !== "{}" ? e.detailsJson : "";
  return (
    <tr>
      <td data-label="Time">{formatTime(e.time && timestampDate(e.time))}</td>
      <td data-label="Who">{who ? <span title={e.actor}>{who}</span> : <code>{e.actor}</code>}</td>
      <td data-label="Action">
        <code>{e.action}</code>
      </td>
      <td data-label="Target">
        <code>{e.target}</code>
      </td>
      <td data-label="Details" className="details">
        {details && <code>{details}</code>}
      </td>
    </tr>
  );
}

function AuditFilters({ q, members }: { q: AuditQuery; members: [string, string][] }) {
  const [draft, setDraft] = useState(q);
  const listId = useId();
  function submit(e: FormEvent) {
    e.preventDefault();
    const s = auditSearch(draft);
    navigate(s ? `#/audit?${s}` : "#/audit");
  }
  return (
    <form className="filters inline-form" role="search" aria-label="Filter the audit log" onSubmit={submit}>
      <Field label="Who">
        <select value={draft.actor} onChange={(e) => setDraft({ ...draft, actor: e.target.value })}>
          <option value="">Anyone</option>
          {members.map(([actor, email]) => (
            <option key={actor} value={actor}>
              {email}
            </option>
          ))}
          {draft.actor && !members.some(([a]) => a === draft.actor) && <option value={draft.actor}>{draft.actor}</option>}
        </select>
      </Field>
      <Field label="Action" hint="Exact, or a prefix ending in a dot: member.">
        <input value={draft.action} list={listId} onChange={(e) => setDraft({ ...draft, action: e.target.value })} placeholder="member." />
      </Field>
      <datalist id={listId}>
        {knownActions.map((a) => (
          <option key={a} value={a} />
        ))}
      </datalist>
      <Field label="From">
        <input type="date" value={draft.from} onChange={(e) => setDraft({ ...draft, from: e.target.value })} />
      </Field>
      <Field label="To">
        <input type="date" value={draft.to} onChange={(e) => setDraft({ ...draft, to: e.target.value })} />
      </Field>
      <button type="submit">Filter</button>
    </form>
  );
}

// ArchiveButton downloads the organization's archive (TenantService.ExportTenant), showing
// which service is being read, then the bytes received.
function ArchiveButton({ slug }: { slug: string }) {
  const [busy, setBusy] = useState(false);
  const [progress, setProgress] = useState<ArchiveProgress>();
  const [done, setDone] = useState<{ bytes: number; records: number }>();
  const [error, setError] = useState<unknown>();
  async function run() {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    setProgress(undefined);
    try {
      const r = await collectArchive(tenantClient.exportTenant({}), setProgress);
      const blob = new Blob(r.parts as BlobPart[], { type: "application/gzip" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = archiveFileName(slug, new Date());
      a.click();
      // Revoked later: a URL revoked at once can cancel the download it started.
      const href = a.href;
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
      setDone({ bytes: r.bytes, records: r.records });
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div>
      <ErrorBanner error={error} onRetry={run} />
      <button type="button" onClick={run} disabled={busy} aria-describedby="archive-status">
        {busy ? progressText(progress) : "Download archive (.tar.gz)"}
      </button>
      <span id="archive-status" role="status" className={done ? "ok" : "muted"}>
        {done && !busy && !error ? ` Downloaded ${formatBytes(done.bytes)}, ${done.records.toLocaleString("en")} records.` : ""}
      </span>
    </div>
  );
}

function ExportButton({ slug }: { slug: string }) {
  const [busy, setBusy] = useState(false);
  const [count, setCount] = useState<number>();
  const [error, setError] = useState<unknown>();
  async function run() {
    setBusy(true);
    setError(undefined);
    try {
      const all: unknown[] = [];
      let token = "";
      do {
        const r = await catalogClient.listEntities({ pageSize: 500, pageToken: token, skipTotal: true });
        all.push(...r.entities);
        token = r.nextPageToken;
        setCount(all.length);
      } while (token);
      const blob = new Blob([JSON.stringify({ items: all }, null, 2)], { type: "application/json" });
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = `${slug}-catalog.json`;
      a.click();
      URL.revokeObjectURL(a.href);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <div>
      <ErrorBanner error={error} onRetry={run} />
      <button type="button" className="secondary" onClick={run} disabled={busy}>
        {busy ? `Exporting… ${count ?? 0}` : "Export catalog (JSON)"}
      </button>
      {!busy && count !== undefined && !error && (
        <span className="ok" role="status">
          {" "}
          Exported {count} entities.
        </span>
      )}
    </div>
  );
}
