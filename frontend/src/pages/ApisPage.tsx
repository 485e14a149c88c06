import { catalogClient } from "../api";
import { Empty, ErrorBanner, Loading, plural } from "../components/ui";
import { useLoad } from "../hooks";
import { stringAt, valueAt } from "../lib/entity";
import { entityHref, parseRef, refHref } from "../lib/entityRef";

// The APIs page: every API entity with its type, lifecycle, owner, and who provides and
// consumes it (from the catalog's reversed relations).
export function ApisPage(_: { search: URLSearchParams }) {
  const { data, error, loading, reload } = useLoad(
    () =>
      catalogClient.listEntities({
        filter: ["kind=api"],
        fields: ["kind", "metadata.name", "metadata.namespace", "metadata.description", "spec.type", "spec.lifecycle", "spec.owner", "relations"],
        pageSize: 500,
      }),
    "apis",
  );
  return (
    <section>
      <h1>APIs</h1>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data && <Loading />}
      {data && data.entities.length === 0 && (
        <Empty title="No APIs in the catalog yet.">
          <p>
            Describe one with <code>kind: API</code> and <a href="#/import">import it</a>.
          </p>
        </Empty>
      )}
      {data && data.entities.length > 0 && (
        <>
          <p className="muted" role="status">
            {plural(data.totalItems, "API", "APIs")}
          </p>
          <div className="table-wrap">
            <table className="responsive">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Type</th>
                  <th scope="col">Lifecycle</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Provided by</th>
                  <th scope="col">Consumed by</th>
                </tr>
              </thead>
              <tbody>
                {data.entities.map((e) => {
                  const ns = stringAt(e, "metadata.namespace") || "default";
                  const n = parseRef(`api:${ns}/${stringAt(e, "metadata.name")}`);
                  const rels = (type: string) => {
                    const v = valueAt(e, "relations");
                    return Array.isArray(v)
                      ? v.flatMap((r) => (r && typeof r === "object" && !Array.isArray(r) && r.type === type && typeof r.targetRef === "string" ? [r.targetRef] : []))
                      : [];
                  };
                  const owner = stringAt(e, "spec.owner");
                  const ownerRef = parseRef(owner, { kind: "group", namespace: ns });
                  return (
                    <tr key={stringAt(e, "metadata.name") + ns}>
                      <td data-label="Name">{n ? <a href={`${entityHref(n)}/definition`}>{stringAt(e, "metadata.name")}</a> : null}</td>
                      <td data-label="Type">{stringAt(e, "spec.type")}</td>
                      <td data-label="Lifecycle">{stringAt(e, "spec.lifecycle")}</td>
                      <td data-label="Owner">{ownerRef ? <a href={entityHref(ownerRef)}>{owner}</a> : owner}</td>
                      <td data-label="Provided by">
                        <RefList refs={rels("apiProvidedBy")} />
                      </td>
                      <td data-label="Consumed by">
                        <RefList refs={rels("apiConsumedBy")} />
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}

function RefList({ refs }: { refs: string[] }) {
  if (refs.length === 0) return <span className="muted">—</span>;
  return (
    <>
      {refs.map((r, i) => {
        const href = refHref(r);
        return (
          <span key={r}>
            {i > 0 && ", "}
            {href ? <a href={href}>{parseRef(r)?.name ?? r}</a> : r}
          </span>
        );
      })}
    </>
  );
}
