import { useEffect, useState, type FormEvent } from "react";
import type { JsonObject } from "@bufbuild/protobuf";
import { isAdminRole } from "../api";
import { locationClient } from "../locationApi";
import { Empty, ErrorBanner, ErrorState, Field, Loading, plural } from "../components/ui";
import type { CreateLocationResponse, ImportProblem, Location } from "../gen/atrium/catalog/v1/catalog_pb";
import { navigate, useSession } from "../hooks";
import { parseRef, refHref } from "../lib/entityRef";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";

// The catalog's import pages share one sub-navigation: paste YAML, register a URL, the
// registered Locations.
export function ImportTabs({ current }: { current: "import" | "register" | "locations" }) {
  const tabs = [
    { id: "import", href: "#/import", label: "Paste YAML" },
    { id: "register", href: "#/locations/register", label: "Register existing component" },
    { id: "locations", href: "#/locations", label: "Locations" },
  ] as const;
  return (
    <nav className="tabs" aria-label="Import">
      {tabs.map((t) => (
        <a key={t.id} href={t.href} aria-current={t.id === current ? "page" : undefined}>
          {t.label}
        </a>
      ))}
    </nav>
  );
}

// RegisterLocationPage: a URL (repository, folder or catalog-info.yaml), a dry run that
// shows what would be imported (and what is wrong, entity by entity), then Register, which
// is offered only for the URL that was checked.
export function RegisterLocationPage() {
  const [target, setTarget] = useState("");
  const [preview, setPreview] = useState<CreateLocationResponse>();
  const [checked, setChecked] = useState<string | null>(null);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function analyze(e: FormEvent) {
    e.preventDefault();
    if (target.trim() === "") {
      setError(new FieldError("target", "Enter the URL of a repository, a folder or a catalog-info.yaml file."));
      return;
    }
    setBusy(true);
    setError(undefined);
    setPreview(undefined);
    try {
      const r = await locationClient.createLocation({ type: "url", target: target.trim(), dryRun: true });
      setPreview(r);
      setChecked(target);
    } catch (err) {
      setError(err);
      setChecked(null);
    } finally {
      setBusy(false);
    }
  }

  async function register() {
    setBusy(true);
    setError(undefined);
    try {
      const r = await locationClient.createLocation({ type: "url", target: target.trim() });
      if (r.location) navigate(`#/locations/${encodeURIComponent(r.location.id)}?registered=1`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  const v = error instanceof FieldError ? { byField: { target: [error.message] }, other: [] } : violationsByField(fieldViolations(error), ["target"] as const);
  const entities = preview?.entities ?? [];
  return (
    <section>
      <h1>Register existing component</h1>
      <ImportTabs current="register" />
      <p className="muted">
        Atrium reads the entities from Git and keeps them in sync: on a schedule, and at once when the repository's push
        webhook calls it.
      </p>
      <form onSubmit={analyze} noValidate>
        <Field
          label="Repository, folder or file URL"
          errors={v.byField.target}
          hint={
            <>
              For example <code>https://github.com/org/repo</code>, <code>…/tree/main/services</code> or{" "}
              <code>…/blob/main/catalog-info.yaml</code>.
            </>
          }
        >
          <input
            type="url"
            inputMode="url"
            autoComplete="url"
            spellCheck={false}
            value={target}
            onChange={(e) => {
              setTarget(e.target.value);
              setChecked(null);
              if (error instanceof FieldError) setError(undefined);
            }}
          />
        </Field>
        <div className="actions">
          <button type="submit" className="secondary" disabled={busy}>
            Analyze (dry run)
          </button>
          <button type="button" disabled={busy || checked !== target || entities.length === 0} onClick={register}>
            Register
          </button>
        </div>
      </form>
      {!(error instanceof FieldError) && <ErrorBanner error={error} hideViolations={v.other.length === 0} message={error ? formErrorMessage(error, v) : undefined} />}
      {busy && <Loading label={checked === target ? "Registering…" : "Reading the repository…"} />}
      {preview && checked === target && (
        <div className="preview" aria-live="polite">
          <h2>Would be imported</h2>
          {preview.exists && <p className="warning">This URL is already registered. Registering it again is refused; refresh the existing Location instead.</p>}
          <p className={preview.problems.length ? "" : "ok"}>
            {plural(Math.max(entities.length - 1, 0), "entity", "entities")} besides the Location itself
            {preview.problems.length > 0 && `; ${plural(preview.problems.length, "problem", "problems")} (those entities are left out, the rest are imported)`}.
          </p>
          <EntityTable entities={entities} />
          {preview.problems.length > 0 && <h3>Problems</h3>}
          <ProblemTable problems={preview.problems} />
        </div>
      )}
    </section>
  );
}

class FieldError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

function str(o: JsonObject | undefined, ...path: string[]): string {
  let v: unknown = o;
  for (const p of path) {
    if (!v || typeof v !== "object") return "";
    v = (v as Record<string, unknown>)[p];
  }
  return typeof v === "string" ? v : "";
}

function EntityTable({ entities }: { entities: JsonObject[] }) {
  if (entities.length === 0) return <Empty title="No entities found">Check that the URL names a catalog-info.yaml file, or a folder or repository holding one.</Empty>;
  return (
    <div className="table-wrap">
      <table>
        <caption className="sr-only">Entities</caption>
        <thead>
          <tr>
            <th scope="col">Kind</th>
            <th scope="col">Name</th>
            <th scope="col">From</th>
          </tr>
        </thead>
        <tbody>
          {entities.map((e, i) => {
            const file = str(e, "metadata", "annotations", "backstage.io/managed-by-location").replace(/^url:/, "");
            return (
              <tr key={i}>
                <td>{str(e, "kind")}</td>
                <td>
                  {str(e, "metadata", "namespace") && str(e, "metadata", "namespace") !== "default" ? `${str(e, "metadata", "namespace")}/` : ""}
                  {str(e, "metadata", "name")}
                </td>
                <td>
                  <code>{shortFile(file)}</code>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

// shortFile keeps the part of a file URL after /blob/<ref>/ (the path in the repository).
function shortFile(u: string): string {
  const m = /\/(?:-\/)?blob\/[^/]+\/(.+)$/.exec(u);
  return m ? m[1] : u;
}

function ProblemTable({ problems }: { problems: ImportProblem[] }) {
  if (problems.length === 0) return null;
  return (
    <div className="table-wrap">
      <table className="problems">
        <caption className="sr-only">Problems</caption>
        <thead>
          <tr>
            <th scope="col">File</th>
            <th scope="col">Document</th>
            <th scope="col">Field</th>
            <th scope="col">Problem</th>
          </tr>
        </thead>
        <tbody>
          {problems.map((p, i) => (
            <tr key={i}>
              <td>{p.file ? <code>{shortFile(p.file)}</code> : p.entityRef ? <code>{p.entityRef}</code> : "—"}</td>
              <td>{p.hasDocument ? p.document + 1 : "—"}</td>
              <td>{p.field ? <code>{p.field}</code> : "—"}</td>
              <td>{p.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function when(rfc: string): string {
  if (!rfc) return "never";
  const d = new Date(rfc);
  return Number.isNaN(d.getTime()) ? rfc : d.toLocaleString();
}

function Status({ loc }: { loc: Location }) {
  if (loc.lastError) return <span className="badge status-failed">failed</span>;
  if (!loc.refreshedAt) return <span className="badge">not refreshed</span>;
  if (loc.problems.length) return <span className="badge status-warn">{plural(loc.problems.length, "problem", "problems")}</span>;
  return <span className="badge status-active">ok</span>;
}

// LocationsPage lists the registered Locations, with refresh and (for admins) delete.
export function LocationsPage() {
  const s = useSession();
  const admin = isAdminRole(s?.role);
  const [list, setList] = useState<Location[]>();
  const [total, setTotal] = useState(0n);
  const [error, setError] = useState<unknown>();
  const [actionError, setActionError] = useState<unknown>();
  const [busy, setBusy] = useState<string>();
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let live = true;
    setError(undefined);
    locationClient
      .listLocations({ pageSize: 500 })
      .then((r) => {
        if (!live) return;
        setList(r.locations);
        setTotal(r.totalItems);
      })
      .catch((e: unknown) => live && setError(e));
    return () => {
      live = false;
    };
  }, [tick]);

  async function act(id: string, fn: () => Promise<unknown>) {
    setBusy(id);
    setActionError(undefined);
    try {
      await fn();
      setTick((t) => t + 1);
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(undefined);
    }
  }

  return (
    <section>
      <h1>Locations</h1>
      <ImportTabs current="locations" />
      {error !== undefined ? (
        <ErrorState error={error} onRetry={() => setTick((t) => t + 1)} />
      ) : !list ? (
        <Loading />
      ) : list.length === 0 ? (
        <Empty title="No Locations yet">
          <p>
            <a href="#/locations/register">Register an existing component</a> from its repository to keep the catalog in sync
            with Git.
          </p>
        </Empty>
      ) : (
        <>
          <p className="muted">{plural(total, "Location", "Locations")}</p>
          <ErrorBanner error={actionError} />
          <div className="table-wrap">
            <table className="locations">
              <thead>
                <tr>
                  <th scope="col">Target</th>
                  <th scope="col">Status</th>
                  <th scope="col">Entities</th>
                  <th scope="col">Last refresh</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((l) => (
                  <tr key={l.id}>
                    <td>
                      <a href={`#/locations/${encodeURIComponent(l.id)}`}>{l.target}</a>
                    </td>
                    <td>
                      <Status loc={l} />
                    </td>
                    <td>{l.entityCount}</td>
                    <td>{when(l.refreshedAt)}</td>
                    <td className="actions-cell">
                      <button
                        className="secondary small"
                        disabled={busy === l.id}
                        aria-label={`Refresh ${l.target}`}
                        onClick={() => act(l.id, () => locationClient.refreshLocation({ id: l.id }))}
                      >
                        Refresh
                      </button>
                      {admin && (
                        <button
                          className="danger small"
                          disabled={busy === l.id}
                          aria-label={`Delete ${l.target}`}
                          onClick={() => {
                            if (window.confirm(`Unregister ${l.target}? Its entities stay in the catalog, marked as orphans.`)) {
                              void act(l.id, () => locationClient.deleteLocation({ id: l.id }));
                            }
                          }}
                        >
                          Delete
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

// LocationPage shows one Location: its last refresh, its problems entity by entity, and
// the entities it yields.
export function LocationPage({ id, registered }: { id: string; registered?: boolean }) {
  const s = useSession();
  const admin = isAdminRole(s?.role);
  const [loc, setLoc] = useState<Location>();
  const [refs, setRefs] = useState<string[]>([]);
  const [error, setError] = useState<unknown>();
  const [actionError, setActionError] = useState<unknown>();
  const [note, setNote] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let live = true;
    setError(undefined);
    locationClient
      .getLocation({ id })
      .then((r) => {
        if (!live) return;
        setLoc(r.location);
        setRefs(r.entityRefs);
      })
      .catch((e: unknown) => live && setError(e));
    return () => {
      live = false;
    };
  }, [id, tick]);

  async function refresh() {
    setBusy(true);
    setActionError(undefined);
    setNote(undefined);
    try {
      const r = await locationClient.refreshLocation({ id });
      setNote(
        r.notModified
          ? "Nothing changed since the last refresh."
          : `Refreshed: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged${r.orphaned.length ? `, ${r.orphaned.length} orphaned` : ""}.`,
      );
      setTick((t) => t + 1);
    } catch (e) {
      setActionError(e);
      setTick((t) => t + 1);
    } finally {
      setBusy(false);
    }
  }

  async function remove() {
    if (!loc || !window.confirm(`Unregister ${loc.target}? Its entities stay in the catalog, marked as orphans.`)) return;
    setBusy(true);
    setActionError(undefined);
    try {
      await locationClient.deleteLocation({ id });
      navigate("#/locations");
    } catch (e) {
      setActionError(e);
      setBusy(false);
    }
  }

  if (error !== undefined) {
    return (
      <section>
        <h1>Location</h1>
        <ErrorState error={error} onRetry={() => setTick((t) => t + 1)} />
        <p>
          <a href="#/locations">All Locations</a>
        </p>
      </section>
    );
  }
  if (!loc) return <Loading />;
  const entityRefs = refs.filter((r) => r !== loc.entityRef.toLowerCase() && r !== loc.entityRef);
  return (
    <section>
      <h1>Location</h1>
      <ImportTabs current="locations" />
      {registered && <p className="ok strong">Registered. The catalog will keep it in sync.</p>}
      <div className="table-wrap">
        <table className="kv">
          <tbody>
            <tr>
              <th scope="row">Target</th>
              <td>
                <code>{loc.target}</code>
              </td>
            </tr>
            <tr>
              <th scope="row">Status</th>
              <td>
                <Status loc={loc} />
              </td>
            </tr>
            <tr>
              <th scope="row">Last refresh</th>
              <td>{when(loc.refreshedAt)}</td>
            </tr>
            <tr>
              <th scope="row">Revision</th>
              <td>{loc.revision ? <code>{loc.revision.slice(0, 12)}</code> : "—"}</td>
            </tr>
            <tr>
              <th scope="row">Entities</th>
              <td>{loc.entityCount}</td>
            </tr>
          </tbody>
        </table>
      </div>
      <div className="actions">
        <button className="secondary" disabled={busy} onClick={refresh}>
          Refresh now
        </button>
        {admin && (
          <button className="danger" disabled={busy} onClick={remove}>
            Delete
          </button>
        )}
      </div>
      {note && (
        <p className="ok" role="status">
          {note}
        </p>
      )}
      <ErrorBanner error={actionError} />
      {loc.lastError && (
        <div className="error" role="alert">
          The last refresh failed: {loc.lastError}
          {loc.failures > 1 && ` (${loc.failures} times in a row)`}. The entities it imported before are kept.
        </div>
      )}
      <h2>Problems</h2>
      {loc.problems.length === 0 ? <p className="muted">None in the last refresh.</p> : <ProblemTable problems={loc.problems} />}
      <h2>Entities</h2>
      {entityRefs.length === 0 ? (
        <Empty title="No entities">This Location yields none yet.</Empty>
      ) : (
        <ul className="entity-refs">
          {entityRefs.map((r) => (
            <li key={r}>{parseRef(r) ? <a href={refHref(r) ?? undefined}>{r}</a> : <code>{r}</code>}</li>
          ))}
        </ul>
      )}
      <p>
        <a href="#/locations">All Locations</a>
      </p>
    </section>
  );
}
