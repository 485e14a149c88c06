import { useState, type ChangeEvent } from "react";
import { catalogClient } from "../api";
import { ErrorBanner } from "../components/ui";
import { ApplyAction, type ApplyEntitiesResponse } from "../gen/atrium/catalog/v1/catalog_pb";
import { parseRef, refHref } from "../lib/entityRef";
import { fieldViolations, importProblem, violationsByDocument } from "../lib/violations";
import { plural } from "../components/ui";
import { ImportTabs } from "./LocationsPage";

const example = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: payments
  description: Takes the money
  tags: [java]
spec:
  type: service
  lifecycle: production
  owner: team-payments
`;

const actionNames: Record<ApplyAction, string> = {
  [ApplyAction.UNSPECIFIED]: "—",
  [ApplyAction.CREATED]: "created",
  [ApplyAction.UPDATED]: "updated",
  [ApplyAction.UNCHANGED]: "unchanged",
};

// Apply is offered only after a clean dry run of exactly the text on screen.
export function ImportPage() {
  const [yaml, setYaml] = useState("");
  const [checked, setChecked] = useState<string | null>(null);
  const [result, setResult] = useState<ApplyEntitiesResponse>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  async function run(dryRun: boolean) {
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const r = await catalogClient.applyEntities({ yamlDocuments: [yaml], dryRun });
      setResult(r);
      setChecked(dryRun ? yaml : null);
    } catch (err) {
      setError(err);
      setChecked(null);
    } finally {
      setBusy(false);
    }
  }

  async function loadFile(e: ChangeEvent<HTMLInputElement>) {
    const f = e.target.files?.[0];
    if (!f) return;
    setYaml(await f.text());
    setChecked(null);
    setResult(undefined);
    setError(undefined);
  }

  const grouped = violationsByDocument(fieldViolations(error));
  const problems = grouped.batch.length > 0 || grouped.documents.size > 0;
  return (
    <section>
      <h1>Import entities</h1>
      <ImportTabs current="import" />
      <p className="muted" id="import-help">
        Paste Backstage YAML (several documents separated by <code>---</code>), check it with a dry run, then
        apply it. A batch is all or nothing.
      </p>
      <label htmlFor="import-yaml" className="block-label">
        Catalog YAML
      </label>
      <textarea
        id="import-yaml"
        aria-describedby="import-help"
        aria-invalid={problems || undefined}
        className="yaml"
        value={yaml}
        placeholder={example}
        spellCheck={false}
        onChange={(e) => {
          setYaml(e.target.value);
          setChecked(null);
        }}
      />
      <div className="actions">
        <input type="file" accept=".yaml,.yml,text/yaml" onChange={loadFile} aria-label="Load a YAML file" />
        <button className="secondary" disabled={busy || yaml.trim() === ""} onClick={() => run(true)}>
          Validate (dry run)
        </button>
        <button disabled={busy || checked !== yaml} onClick={() => run(false)}>
          Apply
        </button>
      </div>
      <ErrorBanner
        error={error}
        hideViolations
        message={problems ? "Nothing was applied: the batch has the problems listed below." : undefined}
      />
      {problems && (
        <div className="violations">
          {grouped.batch.map((v, i) => {
            const p = importProblem(v.description || v.reason);
            return (
              <p key={i} className="error">
                {p.line !== undefined && <strong>Line {p.line}: </strong>}
                {p.message}
              </p>
            );
          })}
          {[...grouped.documents].map(([doc, vs]) => (
            <div key={doc} className="doc-violations">
              <h3>Document {doc + 1}</h3>
              <ul>
                {vs.map((v, i) => {
                  const p = importProblem(v.description);
                  return (
                    <li key={i}>
                      {p.line !== undefined && <strong>Line {p.line}: </strong>}
                      {v.path && <code>{v.path}</code>} {p.message}
                    </li>
                  );
                })}
              </ul>
            </div>
          ))}
        </div>
      )}
      {result && <Results result={result} />}
    </section>
  );
}

function Results({ result }: { result: ApplyEntitiesResponse }) {
  return (
    <>
      <p className={result.dryRun ? "ok" : "ok strong"}>
        {result.dryRun
          ? `Valid: ${plural(result.results.length, "entity", "entities")} would be applied.`
          : `Applied ${plural(result.results.length, "entity", "entities")}.`}
      </p>
      <div className="table-wrap">
      <table>
        <thead>
          <tr>
            <th>Document</th>
            <th>Entity</th>
            <th>{result.dryRun ? "Would be" : "Result"}</th>
          </tr>
        </thead>
        <tbody>
          {result.results.map((r) => {
            const href = !result.dryRun && parseRef(r.entityRef) ? refHref(r.entityRef) : null;
            return (
              <tr key={r.documentIndex}>
                <td>{r.documentIndex + 1}</td>
                <td>{href ? <a href={href}>{r.entityRef}</a> : <code>{r.entityRef}</code>}</td>
                <td>{actionNames[r.action] ?? "—"}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      </div>
    </>
  );
}
