import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useState, type FormEvent } from "react";
import { isAdminRole, tenantClient } from "../api";
import { ErrorBanner, Field, formatTime, Loading, ViolationList } from "../components/ui";
import { TenantStatus, type Tenant } from "../gen/atrium/tenancy/v1/tenancy_pb";
import { useLoad, useSession } from "../hooks";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";

export function HomePage() {
  const s = useSession();
  const { data, error, loading, reload } = useLoad(() => tenantClient.getTenant({}), s?.tenant ?? "");
  const tenant = data?.tenant;
  return (
    <section>
      <h1>{tenant?.displayName || s?.tenant}</h1>
      <ErrorBanner error={error} />
      {loading && !tenant && <Loading />}
      {tenant && <TenantFacts tenant={tenant} />}
      {tenant && isAdminRole(s?.role) && <RenameForm tenant={tenant} onSaved={reload} />}
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

function RenameForm({ tenant, onSaved }: { tenant: Tenant; onSaved: () => void }) {
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
