import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useState, type FormEvent } from "react";
import { tenantClient } from "../api";
import { navigate } from "../hooks";
import { recentVisits } from "../lib/recent";
import { useStars } from "../lib/stars";
import { refHref, parseRef } from "../lib/entityRef";
import { ErrorBanner, Field, formatTime, Loading, ViolationList } from "../components/ui";
import { TenantStatus, type Tenant } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { useLoad, useSession } from "../hooks";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";

export function HomePage() {
  const s = useSession();
  const { data, error, loading } = useLoad(() => tenantClient.getTenant({}), s?.tenant ?? "");
  const tenant = data?.tenant;
  return (
    <section>
      <h1>{tenant?.displayName || s?.tenant}</h1>
      <ErrorBanner error={error} />
      {loading && !tenant && <Loading />}
      {tenant && <TenantFacts tenant={tenant} />}
      <HomeSearch />
      <div className="columns">
        <Starred />
        <Recent />
      </div>
      <div className="tiles">
        <a className="tile" href="#/catalog">
          <strong>Catalog</strong>
          <span>Components, APIs, systems and the people who own them</span>
        </a>
        <a className="tile" href="#/import">
          <strong>Import</strong>
          <span>Paste catalog-info.yaml and apply it</span>
        </a>
        <a className="tile" href="#/members">
          <strong>Members</strong>
          <span>People, roles and API tokens</span>
        </a>
      </div>
    </section>
  );
}

function TenantFacts({ tenant }: { tenant: Tenant }) {
  const created = tenant.createTime ? timestampDate(tenant.createTime) : undefined;
  return (
    <dl className="facts">
      <dt>Slug</dt>
      <dd>
        <code>{tenant.slug}</code>
      </dd>
      <dt>Status</dt>
      <dd>
        <span className={`badge status-${TenantStatus[tenant.status]?.toLowerCase()}`}>
          {TenantStatus[tenant.status]?.toLowerCase() ?? "unknown"}
        </span>
        {tenant.statusReason && <span className="muted"> {tenant.statusReason}</span>}
      </dd>
      <dt>Created</dt>
      <dd>{formatTime(created)}</dd>
    </dl>
  );
}

export function RenameForm({ tenant, onSaved }: { tenant: Tenant; onSaved: () => void }) {
  const [name, setName] = useState(tenant.displayName);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const v = violationsByField(fieldViolations(error), ["displayName"] as const);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      await tenantClient.updateTenant({ displayName: name });
      setSaved(true);
      onSaved();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="inline-form" onSubmit={submit}>
      <ErrorBanner error={error} hideViolations message={formErrorMessage(error, v)} />
      <ViolationList violations={v.other} />
      <Field label="Display name" errors={v.byField.displayName}>
        <input
          value={name}
          onChange={(e) => {
            setName(e.target.value);
            setSaved(false);
          }}
        />
      </Field>
      <button type="submit" disabled={busy || name === tenant.displayName}>
        Save
      </button>
      {saved && name === tenant.displayName && (
        <span className="ok saved" role="status">
          Saved
        </span>
      )}
    </form>
  );
}

function HomeSearch() {
  const [q, setQ] = useState("");
  function submit(e: FormEvent) {
    e.preventDefault();
    if (q.trim()) navigate(`#/search?${new URLSearchParams({ q: q.trim() }).toString()}`);
  }
  return (
    <form className="search" role="search" aria-label="Search the catalog" onSubmit={submit}>
      <input type="search" aria-label="Search the catalog" placeholder="Search the catalog" value={q} onChange={(e) => setQ(e.target.value)} />
      <button type="submit">Search</button>
    </form>
  );
}

function Starred() {
  const stars = useStars();
  const refs = stars.refs();
  return (
    <div className="card">
      <h2>Starred</h2>
      {refs.length === 0 ? (
        <p className="muted">Star entities (☆ in the catalog) to find them here.</p>
      ) : (
        <ul className="plain">
          {refs.map((r) => (
            <li key={r}>
              <a href={refHref(r) ?? "#/catalog"}>{parseRef(r)?.name ?? r}</a> <span className="muted">{parseRef(r)?.kind}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Recent() {
  const visits = recentVisits();
  return (
    <div className="card">
      <h2>Recently viewed</h2>
      {visits.length === 0 ? (
        <p className="muted">Entities you open appear here.</p>
      ) : (
        <ul className="plain">
          {visits.map((v) => (
            <li key={v.ref}>
              <a href={refHref(v.ref) ?? "#/catalog"}>{v.title || parseRef(v.ref)?.name}</a> <span className="muted">{v.kind}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
