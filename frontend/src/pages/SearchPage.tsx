import { useState, type FormEvent } from "react";
import { catalogClient } from "../api";
import { Empty, ErrorBanner, Loading, plural } from "../components/ui";
import { navigate, useLoad } from "../hooks";
import { displayName } from "../lib/columns";
import { stringAt } from "../lib/entity";
import { entityHref, parseRef } from "../lib/entityRef";

// The search page: the catalog's full-text search over names, titles, descriptions and
// tags, results with their kind, so two entities of one name are told apart.
export function SearchPage({ search }: { search: URLSearchParams }) {
  const term = search.get("q") ?? "";
  const [text, setText] = useState(term);
  const { data, error, loading, reload } = useLoad(
    () =>
      term.trim() === ""
        ? Promise.resolve(undefined)
        : catalogClient.listEntities({
            fullTextTerm: term.trim(),
            fields: ["kind", "metadata.name", "metadata.namespace", "metadata.title", "metadata.description", "spec.profile.displayName"],
            pageSize: 50,
          }),
    term,
  );
  function submit(e: FormEvent) {
    e.preventDefault();
    navigate(`#/search?${new URLSearchParams({ q: text.trim() }).toString()}`);
  }
  return (
    <section>
      <h1>Search</h1>
      <form className="search" role="search" aria-label="Search the catalog" onSubmit={submit}>
        <input type="search" aria-label="Search term" value={text} onChange={(e) => setText(e.target.value)} placeholder="payments, team-a, openapi…" />
        <button type="submit">Search</button>
      </form>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && term && !data && <Loading />}
      {data && (
        <p className="muted" role="status">
          {plural(data.totalItems, "result", "results")} for “{term}”
          {data.totalItems > 50n && (
            <>
              {" "}
              · <a href={`#/catalog?${new URLSearchParams({ q: term }).toString()}`}>see all in the catalog</a>
            </>
          )}
        </p>
      )}
      {data && data.entities.length === 0 && <Empty title="No results." />}
      {data && data.entities.length > 0 && (
        <ul className="results plain">
          {data.entities.map((e) => {
            const ns = stringAt(e, "metadata.namespace") || "default";
            const n = parseRef(`${stringAt(e, "kind")}:${ns}/${stringAt(e, "metadata.name")}`);
            const { name, title } = displayName(e);
            return (
              <li key={`${stringAt(e, "kind")}:${ns}/${name}`}>
                <span className="badge">{stringAt(e, "kind")}</span> {n ? <a href={entityHref(n)}>{name}</a> : name}
                {title && <span className="muted"> {title}</span>}
                <div className="muted small">{stringAt(e, "metadata.description")}</div>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
