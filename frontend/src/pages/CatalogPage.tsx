import type { JsonObject } from "@bufbuild/protobuf";
import { useState, type FormEvent } from "react";
import { catalogClient } from "../api";
import { Empty, ErrorBanner, Loading, plural } from "../components/ui";
import { SortOrder, type Facet, type ListEntitiesResponse } from "../gen/atrium/catalog/v1/catalog_pb";
import { navigate, useLoad } from "../hooks";
import { columnLabels, columnsFor, displayName, listFields, sortableColumns, type Column } from "../lib/columns";
import { stringAt, stringsAt } from "../lib/entity";
import { entityHref, formatRef, parseRef } from "../lib/entityRef";
import {
  buildFilters,
  facetFields,
  facetQueries,
  isFilterableValue,
  ownerFilters,
  parseKinds,
  queryToSearch,
  sameValue,
  searchToQuery,
  sortFields,
  toggleValue,
  withoutPosition,
  type CatalogQuery,
  type FacetField,
} from "../lib/filters";
import { useMyOwners } from "../lib/me";
import { starFilter } from "../lib/stars";
import { useStars } from "../lib/starsClient";
import { errorMessage } from "../lib/violations";

const pageSize = 25;

const facetLabels: Record<FacetField, string> = {
  kind: "Kind",
  "spec.type": "Type",
  "spec.lifecycle": "Lifecycle",
  "metadata.tags": "Tags",
};

function go(q: CatalogQuery) {
  navigate(`#/catalog${queryToSearch(q)}`);
}

// The query the catalog showed last, so an entity page's way back keeps the reader's filters
// and page.
let lastSearch = "";

export function catalogHref(): string {
  return `#/catalog${lastSearch}`;
}

// Recent answers, so Back shows the rows at once and the scroll position can be restored.
const listCache = new Map<string, ListEntitiesResponse>();

export function CatalogPage({ search }: { search: URLSearchParams }) {
  const q = searchToQuery(search);
  const key = queryToSearch(q);
  lastSearch = key;
  const filterKey = queryToSearch(withoutPosition(q));
  return (
    <div className="catalog">
      <div className="catalog-head">
        <h1>Catalog</h1>
        {/* A new query resets the form. Sibling keys must differ: React cannot tell apart two
            children with one key and leaves the old one behind when the key changes. */}
        <SearchForm key={`form${filterKey}`} q={q} />
        <ShowToggle q={q} />
      </div>
      {/* After the search box in the DOM, so Tab reaches the search first; CSS places the
          facets beside the list on wide screens and folds them away on phones. */}
      <details className="facets" open={typeof window !== "undefined" && window.innerWidth > 760}>
        <summary>Filters</summary>
        <Facets q={q} queryKey={filterKey} />
      </details>
      <section className="catalog-list" aria-label="Entities">
        <EntityList key={`list${filterKey}`} q={q} />
      </section>
    </div>
  );
}

function SearchForm({ q }: { q: CatalogQuery }) {
  const [kinds, setKinds] = useState((q.selected.kind ?? []).join(", "));
  const [text, setText] = useState(q.text);

  function submit(e: FormEvent) {
    e.preventDefault();
    go({ ...withoutPosition(q), text, selected: { ...q.selected, kind: parseKinds(kinds) } });
  }

  return (
    <form className="search" onSubmit={submit} role="search" aria-label="Catalog">
      <input
        type="search"
        aria-label="Search"
        placeholder="Search names, titles, descriptions, tags"
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
      <input aria-label="Kind" placeholder="Kind, e.g. component, api" value={kinds} onChange={(e) => setKinds(e.target.value)} />
      <button type="submit">Search</button>
      {queryToSearch(q) !== "" && (
        <button type="button" className="secondary" onClick={() => go({ text: "", selected: {} })}>
          Clear
        </button>
      )}
    </form>
  );
}

function ShowToggle({ q }: { q: CatalogQuery }) {
  const options: [CatalogQuery["show"], string][] = [
    [undefined, "All"],
    ["owned", "Owned by me"],
    ["starred", "Starred"],
  ];
  return (
    <div className="segmented" role="group" aria-label="Show">
      {options.map(([v, label]) => (
        <button
          key={label}
          type="button"
          className={q.show === v ? "on" : "secondary"}
          aria-pressed={q.show === v}
          onClick={() => go({ ...withoutPosition(q), show: v })}
        >
          {label}
        </button>
      ))}
    </div>
  );
}

// listRequestFilters are the filter sets of the list and the facets: the selection, narrowed
// to the member's ownership or stars when asked.
function useRequestFilters(q: CatalogQuery): { filter: string[] | null; note?: string } {
  const owners = useMyOwners();
  const stars = useStars();
  const base = buildFilters(q);
  if (q.show === "owned") {
    if (owners.loading) return { filter: null };
    if (owners.refs.length === 0) return { filter: ["metadata.uid=__none__"], note: owners.note };
    return { filter: ownerFilters(base, owners.refs) };
  }
  if (q.show === "starred") {
    if (stars.loading && stars.items.length === 0) return { filter: null };
    // Stars name entities by ref; the filter takes their current uids, one condition.
    const filter = starFilter(stars.items, base);
    return { filter: filter ?? ["metadata.uid=__none__"], note: stars.error ? "Your stars could not be loaded." : undefined };
  }
  return { filter: base };
}

function EntityList({ q }: { q: CatalogQuery }) {
  const { filter, note } = useRequestFilters(q);
  const sortField = sortFields[q.sort ?? "name"] ?? "metadata.name";
  const order = [{ field: sortField, order: q.desc ? SortOrder.DESC : SortOrder.ASC }];
  if (sortField !== "metadata.name") order.push({ field: "metadata.name", order: SortOrder.ASC });
  const key = `${queryToSearch(q)}|${JSON.stringify(filter)}`;
  const { data, error, loading, reload } = useLoad(
    () =>
      filter === null
        ? new Promise<ListEntitiesResponse>(() => {})
        : catalogClient.listEntities({
            filter,
            fullTextTerm: q.text.trim(),
            order,
            fields: listFields,
            pageSize,
            pageToken: q.cursor ?? "",
          }),
    key,
    listCache,
  );
  const page = q.page ?? 1;
  const pages = data ? Math.max(1, Math.ceil(Number(data.totalItems) / pageSize)) : 1;
  const columns = columnsFor(q.selected.kind ?? []);
  const filtered = queryToSearch(withoutPosition(q)) !== "";

  function turn(to: number, token: string | undefined) {
    go(to <= 1 || !token ? withoutPosition(q) : { ...q, page: to, cursor: token });
  }

  return (
    <>
      <ErrorBanner error={error} onRetry={reload} />
      <p className="muted result-count" role="status">
        {data ? plural(data.totalItems, "entity", "entities") : ""}
        {loading && data && " · loading…"}
      </p>
      {note && <p className="muted">{note}</p>}
      {loading && !data && <Loading />}
      {data && data.entities.length === 0 && (filtered ? <NoMatch /> : <EmptyCatalog />)}
      {data && data.entities.length > 0 && (
        <div className="table-wrap">
          <table className="entities responsive">
            <thead>
              <tr>
                <th className="star-col">
                  <span className="sr-only">Star</span>
                </th>
                {columns.map((c) => (
                  <SortHeader key={c} column={c} q={q} />
                ))}
              </tr>
            </thead>
            <tbody>
              {data.entities.map((e, i) => (
                <EntityRow key={stringAt(e, "metadata.uid") || i} entity={e} columns={columns} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && pages > 1 && (
        <nav className="pager" aria-label="Pages">
          <button className="secondary" disabled={page <= 1} onClick={() => turn(1, undefined)}>
            First
          </button>
          <button className="secondary" disabled={!data.prevPageToken || page <= 1} onClick={() => turn(page - 1, data.prevPageToken)}>
            ← Previous
          </button>
          <span aria-current="page">
            Page {page} of {pages}
          </span>
          <button className="secondary" disabled={!data.nextPageToken} onClick={() => turn(page + 1, data.nextPageToken)}>
            Next →
          </button>
        </nav>
      )}
    </>
  );
}

function SortHeader({ column, q }: { column: Column; q: CatalogQuery }) {
  const label = columnLabels[column];
  if (!sortableColumns.has(column)) return <th scope="col">{label}</th>;
  const current = (q.sort ?? "name") === column;
  const desc = current && q.desc === true;
  return (
    <th scope="col" aria-sort={current ? (desc ? "descending" : "ascending") : "none"}>
      <button
        type="button"
        className="sort"
        onClick={() => go({ ...withoutPosition(q), sort: column, desc: current ? !desc : false })}
      >
        {label}
        <span aria-hidden="true">{current ? (desc ? " ▼" : " ▲") : ""}</span>
      </button>
    </th>
  );
}

function NoMatch() {
  return (
    <Empty title="Nothing matches.">
      <p>
        Try fewer filters or another term, or <a href="#/catalog">show the whole catalog</a>.
      </p>
    </Empty>
  );
}

// An org's first visit: the catalog is empty, so say how to fill it.
function EmptyCatalog() {
  return (
    <Empty title="Your catalog is empty.">
      <p>Describe your software in catalog-info.yaml files, then:</p>
      <ul>
        <li>
          <a href="#/import">Import YAML</a>: paste or upload catalog-info.yaml, check it with a dry run, apply it.
        </li>
        <li>
          Register a repository: point Atrium at a repository&apos;s catalog-info.yaml (<a href="#/import">Import</a>, or{" "}
          <code>tenantctl catalog locations add</code>).
        </li>
      </ul>
    </Empty>
  );
}

function EntityRow({ entity, columns }: { entity: JsonObject; columns: Column[] }) {
  const n = parseRef(`${stringAt(entity, "kind")}:${stringAt(entity, "metadata.namespace") || "default"}/${stringAt(entity, "metadata.name")}`);
  return (
    <tr>
      <td className="star-col">{n && <StarButton refStr={formatRef(n)} label={stringAt(entity, "metadata.name")} />}</td>
      {columns.map((c) => (
        <td key={c} data-label={columnLabels[c]}>
          <Cell column={c} entity={entity} />
        </td>
      ))}
    </tr>
  );
}

function RefLink({ value, kind, namespace }: { value: string; kind: string; namespace: string }) {
  if (!value) return null;
  const r = parseRef(value, { kind, namespace });
  return r ? <a href={entityHref(r)}>{value}</a> : <>{value}</>;
}

function Cell({ column, entity }: { column: Column; entity: JsonObject }) {
  const ns = stringAt(entity, "metadata.namespace") || "default";
  switch (column) {
    case "name": {
      const kind = stringAt(entity, "kind");
      const { name, title } = displayName(entity);
      const r = parseRef(`${kind}:${ns}/${name}`);
      return (
        <>
          {r ? <a href={entityHref(r)}>{name}</a> : name}
          {title && <span className="muted title-beside"> {title}</span>}
          {ns !== "default" && <span className="muted"> ({ns})</span>}
        </>
      );
    }
    case "kind":
      return <>{stringAt(entity, "kind")}</>;
    case "owner":
      return <RefLink value={stringAt(entity, "spec.owner")} kind="group" namespace={ns} />;
    case "system":
      return <RefLink value={stringAt(entity, "spec.system")} kind="system" namespace={ns} />;
    case "domain":
      return <RefLink value={stringAt(entity, "spec.domain")} kind="domain" namespace={ns} />;
    case "parent":
      return <RefLink value={stringAt(entity, "spec.parent")} kind="group" namespace={ns} />;
    case "type":
      return <>{stringAt(entity, "spec.type")}</>;
    case "lifecycle":
      return <>{stringAt(entity, "spec.lifecycle")}</>;
    case "email":
      return <>{stringAt(entity, "spec.profile.email")}</>;
    case "description":
      return <span className="desc">{stringAt(entity, "metadata.description")}</span>;
    case "tags":
      return (
        <>
          {stringsAt(entity, "metadata.tags").map((t) => (
            <span key={t} className="tag">
              {t}
            </span>
          ))}
        </>
      );
  }
}

export function StarButton({ refStr, label }: { refStr: string; label: string }) {
  const stars = useStars();
  const on = stars.has(refStr);
  const [problem, setProblem] = useState("");
  return (
    <>
      <button
        type="button"
        className={on ? "star on" : "star"}
        aria-pressed={on}
        aria-label={on ? `Unstar ${label}` : `Star ${label}`}
        title={problem || undefined}
        onClick={() => {
          setProblem("");
          void stars.toggle(refStr).then((err) => err && setProblem(errorMessage(err)));
        }}
      >
        <span aria-hidden="true">{on ? "★" : "☆"}</span>
      </button>
      {problem && (
        <span className="star-error" role="alert">
          {problem}
        </span>
      )}
    </>
  );
}

// Facet counts follow the filters and the search term (the list's own full-text term), so
// the number beside a value is how many of the results have it.
function Facets({ q, queryKey }: { q: CatalogQuery; queryKey: string }) {
  const { data, error, reload } = useLoad(async () => {
    const answers = await Promise.all(
      facetQueries(q).map((fq) =>
        catalogClient.getEntityFacets({ facets: fq.facets, filter: fq.filter, fullTextTerm: q.text.trim() }),
      ),
    );
    return new Map<string, Facet>(answers.flatMap((a) => a.facets.map((f) => [f.facet, f] as const)));
  }, queryKey);

  // Until the first counts arrive one line stands for the boxes: boxes drawn empty and then
  // filled in push one another down the page (layout shift).
  return (
    <>
      <ErrorBanner error={error} onRetry={reload} />
      {!data && !error ? (
        <Loading label="Loading filters…" />
      ) : (
        facetFields.map((field) => <FacetBox key={field} field={field} q={q} facet={data?.get(field)} />)
      )}
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

