import type { JsonObject } from "@bufbuild/protobuf";
import { useState, type FormEvent } from "react";
import { catalogClient } from "../api";
import { ErrorBanner, Loading } from "../components/ui";
import { SortOrder, type Facet } from "../gen/atrium/catalog/v1/catalog_pb";
import { navigate, useLoad } from "../hooks";
import { entityHref, parseRef } from "../lib/entityRef";
import { nameOf, stringAt, stringsAt, titleOf } from "../lib/entity";
import {
  buildFilters,
  facetFields,
  facetQueries,
  isFilterableValue,
  parseKinds,
  queryToSearch,
  sameValue,
  searchToQuery,
  toggleValue,
  type CatalogQuery,
  type FacetField,
} from "../lib/filters";

const pageSize = 25;

// The list only needs these; the projection keeps pages small at 100k entities.
const listFields = [
  "kind",
  "metadata.name",
  "metadata.namespace",
  "metadata.title",
  "metadata.description",
  "metadata.tags",
  "spec.type",
  "spec.lifecycle",
  "spec.owner",
  "spec.profile.displayName",
];

const facetLabels: Record<FacetField, string> = {
  kind: "Kind",
  "spec.type": "Type",
  "spec.lifecycle": "Lifecycle",
  "metadata.tags": "Tags",
};

function go(q: CatalogQuery) {
  navigate(`#/catalog${queryToSearch(q)}`);
}

// The query the catalog showed last, so an entity page's way back keeps the reader's filters.
let lastSearch = "";

export function catalogHref(): string {
  return `#/catalog${lastSearch}`;
}

export function CatalogPage({ search }: { search: URLSearchParams }) {
  const q = searchToQuery(search);
  const key = queryToSearch(q);
  lastSearch = key;
  return (
    <div className="catalog">
      <aside>
        <Facets q={q} queryKey={key} />
      </aside>
      <section>
        <h1>Catalog</h1>
        {/* A new query resets the form and starts the list again at the first page. Sibling
            keys must differ: React cannot tell apart two children with one key and leaves the
            old one behind when the key changes. */}
        <SearchForm key={`form${key}`} q={q} />
        <EntityList key={`list${key}`} q={q} />
      </section>
    </div>
  );
}

function SearchForm({ q }: { q: CatalogQuery }) {
  const [kinds, setKinds] = useState((q.selected.kind ?? []).join(", "));
  const [text, setText] = useState(q.text);

  function submit(e: FormEvent) {
    e.preventDefault();
    go({ text, selected: { ...q.selected, kind: parseKinds(kinds) } });
  }

  return (
    <form className="search" onSubmit={submit} role="search">
      <input
        aria-label="Kind"
        placeholder="Kind, e.g. component, api"
        value={kinds}
        onChange={(e) => setKinds(e.target.value)}
      />
      <input
        aria-label="Search"
        placeholder="Search names, titles, descriptions, tags"
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
      <button type="submit">Search</button>
      {queryToSearch(q) !== "" && (
        <button type="button" className="secondary" onClick={() => go({ text: "", selected: {} })}>
          Clear
        </button>
      )}
    </form>
  );
}

function EntityList({ q }: { q: CatalogQuery }) {
  const [pageToken, setPageToken] = useState("");
  function turn(token: string | undefined) {
    setPageToken(token ?? "");
    window.scrollTo(0, 0);
  }
  const { data, error, loading } = useLoad(
    () =>
      catalogClient.listEntities({
        filter: buildFilters(q),
        fullTextTerm: q.text.trim(),
        order: [{ field: "metadata.name", order: SortOrder.ASC }],
        fields: listFields,
        pageSize,
        pageToken,
      }),
    pageToken,
  );

  return (
    <>
      <ErrorBanner error={error} />
      <p className="muted">
        {data ? `${data.totalItems.toString()} entities` : loading ? "" : " "}
        {loading && data && " · loading…"}
      </p>
      {loading && !data && <Loading />}
      {data && data.entities.length === 0 && <p>Nothing matches.</p>}
      {data && data.entities.length > 0 && (
        <table className="entities">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Type</th>
              <th>Lifecycle</th>
              <th>Owner</th>
              <th>Description</th>
            </tr>
          </thead>
          <tbody>
            {data.entities.map((e, i) => (
              <EntityRow key={i} entity={e} />
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button className="secondary" disabled={!data?.prevPageToken} onClick={() => turn(data?.prevPageToken)}>
          ← Previous
        </button>
        <button className="secondary" disabled={!data?.nextPageToken} onClick={() => turn(data?.nextPageToken)}>
          Next →
        </button>
      </div>
    </>
  );
}

function EntityRow({ entity }: { entity: JsonObject }) {
  const n = nameOf(entity);
  const title = titleOf(entity) || "?";
  const owner = stringAt(entity, "spec.owner");
  const ownerRef = owner ? parseRef(owner, { kind: "group", namespace: n?.namespace }) : null;
  return (
    <tr>
      <td>
        {n ? <a href={entityHref(n)}>{title}</a> : title}
        {n && n.namespace !== "default" && <span className="muted"> ({n.namespace})</span>}
      </td>
      <td>{stringAt(entity, "kind")}</td>
      <td>{stringAt(entity, "spec.type")}</td>
      <td>{stringAt(entity, "spec.lifecycle")}</td>
      <td>{ownerRef ? <a href={entityHref(ownerRef)}>{owner}</a> : owner}</td>
      <td>
        {stringAt(entity, "metadata.description")}
        {stringsAt(entity, "metadata.tags").map((t) => (
          <span key={t} className="tag">
            {t}
          </span>
        ))}
      </td>
    </tr>
  );
}

// Facet counts follow the filters; the full-text term narrows only the list, as
// GetEntityFacets takes filters alone.
function Facets({ q, queryKey }: { q: CatalogQuery; queryKey: string }) {
  const { data, error } = useLoad(async () => {
    const answers = await Promise.all(
      facetQueries(q).map((fq) => catalogClient.getEntityFacets({ facets: fq.facets, filter: fq.filter })),
    );
    return new Map<string, Facet>(answers.flatMap((a) => a.facets.map((f) => [f.facet, f] as const)));
  }, queryKey);

  return (
    <>
      <ErrorBanner error={error} />
      {facetFields.map((field) => (
        <FacetBox key={field} field={field} q={q} facet={data?.get(field)} />
      ))}
    </>
  );
}

const maxFacetValues = 15;

function FacetBox({ field, q, facet }: { field: FacetField; q: CatalogQuery; facet?: Facet }) {
  const selected = q.selected[field] ?? [];
  const top = (facet?.values ?? [])
    .filter((v) => isFilterableValue(v.value))
    .sort((a, b) => (a.count === b.count ? a.value.localeCompare(b.value) : a.count > b.count ? -1 : 1))
    .slice(0, maxFacetValues);
  // Selected values stay visible even when they fall out of the top or count zero.
  const missing = selected
    .filter((s) => !top.some((v) => sameValue(v.value, s)))
    .map((s) => ({ value: s, count: facet?.values.find((v) => sameValue(v.value, s))?.count ?? 0n }));
  const values = [...top, ...missing];
  return (
    <fieldset className="facet">
      <legend>{facetLabels[field]}</legend>
      {values.length === 0 && <span className="muted">—</span>}
      {values.map((v) => (
        <label key={v.value}>
          <input
            type="checkbox"
            checked={selected.some((s) => sameValue(s, v.value))}
            onChange={() => go(toggleValue(q, field, v.value))}
          />
          <span>{v.value}</span>
          <span className="count">{v.count.toString()}</span>
        </label>
      ))}
    </fieldset>
  );
}
