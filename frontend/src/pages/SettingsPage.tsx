import { useState } from "react";
import { catalogClient, isAdminRole, tenantClient } from "../api";
import { archiveFileName, collectArchive, formatBytes, progressText, type ArchiveProgress } from "../lib/archive";
import { ErrorBanner, Loading } from "../components/ui";
import { useLoad, useSession } from "../hooks";
import { RenameForm } from "./HomePage";

// Organization settings for owners and admins: the name, an archive of the organization's
// data, and an export of the catalog.
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
    </section>
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
