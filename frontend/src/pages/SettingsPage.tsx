import { useState } from "react";
import { catalogClient, isAdminRole, tenantClient } from "../api";
import { ErrorBanner, Loading } from "../components/ui";
import { useLoad, useSession } from "../hooks";
import { RenameForm } from "./HomePage";

// Organization settings for owners and admins: the name, and an export of the catalog.
export function SettingsPage(_: { audit: boolean }) {
  const s = useSession();
  const { data, error, loading, reload } = useLoad(() => tenantClient.getTenant({}), s?.tenant ?? "");
  if (!isAdminRole(s?.role)) {
    return (
      <section>
        <h1>Organization settings</h1>
        <p>Only owners and admins change the organization&apos;s settings.</p>
      </section>
    );
  }
  return (
    <section>
      <h1>Organization settings</h1>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data && <Loading />}
      {data?.tenant && (
        <>
          <h2>Name</h2>
          <RenameForm tenant={data.tenant} onSaved={reload} />
        </>
      )}
      <h2>Export the catalog</h2>
      <p className="muted">Every entity as JSON, one file, to keep or import elsewhere.</p>
      <ExportButton slug={s?.tenant ?? "catalog"} />
    </section>
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
