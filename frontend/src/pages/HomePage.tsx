import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useState, type FormEvent } from "react";
import { isAdminRole, pluginClient, tenantClient } from "../api";
import { navigate } from "../hooks";
import { recentVisits } from "../lib/recent";
import { useStars } from "../lib/starsClient";
import { refHref, parseRef } from "../lib/entityRef";
import { ErrorBanner, ErrorState, Field, formatTime, Loading, ViolationList } from "../components/ui";
import { TenantStatus, type Tenant } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { useLoad, useSession } from "../hooks";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";
import { usageOf, type Usage } from "../lib/plugins";

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
      <UsageCard />
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

// UsageCard shows the plan's limits against what the organization uses, with what to do when
// a limit is near.
function UsageCard() {
  const s = useSession();
  const { data, error, reload } = useLoad(() => pluginClient.getEntitlements({}), s?.tenant ?? "");
  const ent = data?.entitlements;
  const bars = ent ? usageOf(ent.limits) : [];
  const trialEnds = ent?.trialEndsAt ? timestampDate(ent.trialEndsAt) : undefined;
  return (
    <div className="card usage" aria-labelledby="usage-heading">
      <h2 id="usage-heading">Usage of your {ent?.plan ?? ""} plan</h2>
      <ErrorBanner error={error} onRetry={reload} />
      {trialEnds && <p className="muted">Trial until {trialEnds.toLocaleDateString()}.</p>}
      <ul className="plain usage-bars">
        {bars.map((u) => (
          <UsageBar key={u.name} u={u} admin={isAdminRole(s?.role)} />
        ))}
      </ul>
      <p className="muted">
        <a href="#/plugins">Plugins</a> shows what your plan includes and what unlocks more.
      </p>
    </div>
  );
}

function UsageBar({ u, admin }: { u: Usage; admin: boolean }) {
  const id = `usage-${u.name}`;
  // Not counted yet: no enforcing service has reported it (seats are counted at the first
  // invitation).
  const value = u.known ? u.used.toLocaleString() : "not counted yet";
  const limit = u.limit === undefined ? "unlimited" : u.limit.toLocaleString();
  return (
    <li className={`usage-${u.level}`}>
      <div className="usage-label">
        <span id={id}>{u.label}</span>
        <span className="usage-figure">
          {value} / {limit}
        </span>
      </div>
      {u.limit !== undefined && (
        <div
          className="bar"
          role="meter"
          aria-labelledby={id}
          aria-valuemin={0}
          aria-valuemax={u.limit}
          aria-valuenow={Math.min(u.used, u.limit)}
          aria-valuetext={`${value} of ${limit}`}
        >
          <span style={{ width: `${Math.round(u.fraction * 100)}%` }} />
        </div>
      )}
      {u.next && (
        <p className={u.level === "full" ? "error" : "warn"}>
          {u.level === "full" ? "Limit reached. " : "Near the limit. "}
          {u.next} {admin && <a href="#/plugins">See plans and plugins</a>}
        </p>
      )}
    </li>
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
  return (
    <div className="card">
      <h2>Starred</h2>
      {stars.error !== undefined && stars.items.length === 0 ? (
        <ErrorState error={stars.error} onRetry={stars.reload} />
      ) : stars.loading && stars.items.length === 0 ? (
        <Loading />
      ) : stars.items.length === 0 ? (
        <p className="muted">Star entities (☆ in the catalog) to find them here.</p>
      ) : (
        <ul className="plain">
          {stars.items.map(({ ref: r, uid }) => (
            <li key={r}>
              {uid ? <a href={refHref(r) ?? "#/catalog"}>{parseRef(r)?.name ?? r}</a> : <span>{parseRef(r)?.name ?? r}</span>}{" "}
              <span className="muted">
                {parseRef(r)?.kind}
                {!uid && " · no longer in the catalog"}
              </span>
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
