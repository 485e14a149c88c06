import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { lazy, Suspense, useEffect, useState } from "react";
import { catalogClient, isAdminRole } from "../api";
import { Empty, ErrorBanner, Loading, plural } from "../components/ui";
import { navigate, useLoad, useSession, useTitle } from "../hooks";
import { sourceLinks } from "../lib/annotations";
import { displayName } from "../lib/columns";
import { objectAt, safeLinks, stringAt, stringsAt, titleOf } from "../lib/entity";
import { entityHref, formatRef, parseRef } from "../lib/entityRef";
import { recordVisit } from "../lib/recent";
import type { EntityTab } from "../lib/route";
import { catalogHref, StarButton } from "./CatalogPage";

// Heavy renderers are their own chunks, fetched only when their tab opens.
const RelationsGraph = lazy(() => import("../components/RelationsGraph"));
const ApiDefinition = lazy(() => import("../components/ApiDefinition"));

// Spec fields that hold entity references, with the kind Backstage assumes for each.
const refFields: [string, string, string][] = [
  ["owner", "group", "Owner"],
  ["system", "system", "System"],
  ["domain", "domain", "Domain"],
  ["subcomponentOf", "component", "Part of"],
  ["parent", "group", "Parent"],
];

const tabLabels: Record<EntityTab, string> = {
  overview: "Overview",
  relations: "Relations",
  definition: "Definition",
  members: "Members",
  ownership: "Ownership",
};

// tabsFor: the tabs Backstage's entity pages have for the kind.
export function tabsFor(kind: string): EntityTab[] {
  switch (kind.toLowerCase()) {
    case "api":
      return ["overview", "definition", "relations"];
    case "group":
      return ["overview", "members", "ownership", "relations"];
    case "user":
      return ["overview", "ownership", "relations"];
    default:
      return ["overview", "relations"];
  }
}

export function EntityPage(props: { kind: string; namespace: string; entity: string; tab: EntityTab }) {
  const ref = formatRef({ kind: props.kind, namespace: props.namespace, name: props.entity });
  const { data, error, loading, reload } = useLoad(() => catalogClient.getEntityByRef({ ref }), ref);
  const entity = data?.entity;
  useEffect(() => {
    if (entity) recordVisit(ref, titleOf(entity), stringAt(entity, "kind"));
  }, [entity, ref]);
  return (
    <section className="entity-page">
      <p>
        <a href={catalogHref()}>← Catalog</a>
      </p>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !entity && <Loading />}
      {!loading && !entity && !error && (
        <>
          <h1>Not found</h1>
          <p>
            No entity <code>{ref}</code>.
          </p>
        </>
      )}
      {entity && <EntityView entity={entity} entityRef={ref} tab={props.tab} />}
    </section>
  );
}

function EntityView({ entity, entityRef, tab }: { entity: JsonObject; entityRef: string; tab: EntityTab }) {
  const kind = stringAt(entity, "kind");
  const { name, title } = displayName(entity);
  const tabs = tabsFor(kind);
  const shown = tabs.includes(tab) ? tab : "overview";
  const n = parseRef(entityRef);
  const base = n ? entityHref(n) : "#/catalog";
  useTitle(`${title || name} (${kind}) · ${tabLabels[shown]} · Atrium`);
  return (
    <>
      <div className="entity-head">
        <h1>
          <span className="badge">{kind}</span> {name}
          {title && <span className="muted title-beside"> {title}</span>}
        </h1>
        <StarButton refStr={entityRef} label={name} />
      </div>
      <nav className="tabs" aria-label="Entity sections">
        {tabs.map((t) => (
          <a key={t} href={t === "overview" ? base : `${base}/${t}`} aria-current={t === shown ? "page" : undefined}>
            {tabLabels[t]}
          </a>
        ))}
      </nav>
      <Suspense fallback={<Loading />}>
        {shown === "overview" && <Overview entity={entity} />}
        {shown === "relations" && <RelationsGraph entityRef={entityRef} />}
        {shown === "definition" && <ApiDefinition type={stringAt(entity, "spec.type")} definition={stringAt(entity, "spec.definition")} />}
        {shown === "members" && <GroupMembers entityRef={entityRef} />}
        {shown === "ownership" && <Ownership entityRef={entityRef} entity={entity} />}
      </Suspense>
    </>
  );
}

function Overview({ entity }: { entity: JsonObject }) {
  const s = useSession();
  const namespace = stringAt(entity, "metadata.namespace") || "default";
  const spec = objectAt(entity, "spec");
  const links = safeLinks(entity);
  const tags = stringsAt(entity, "metadata.tags");
  const src = sourceLinks(objectAt(entity, "metadata.annotations"));
  return (
    <div className="columns">
      <div className="card about">
        <h2>About</h2>
        <p>{stringAt(entity, "metadata.description") || <span className="muted">No description.</span>}</p>
        {(src.view || src.edit) && (
          <p className="actions">
            {src.view && (
              <a className="button secondary small" href={src.view} target="_blank" rel="noreferrer noopener">
                View source
              </a>
            )}
            {src.edit && (
              <a className="button secondary small" href={src.edit} target="_blank" rel="noreferrer noopener">
                Edit
              </a>
            )}
          </p>
        )}
        <dl className="facts">
          {refFields.map(([field, kind, label]) => {
            const v = spec[field];
            if (typeof v !== "string" || !v) return null;
            const target = parseRef(v, { kind, namespace });
            return [
              <dt key={`${field}-t`}>{label}</dt>,
              <dd key={`${field}-d`}>{target ? <a href={entityHref(target)}>{v}</a> : v}</dd>,
            ];
          })}
          {["type", "lifecycle"].map((f) =>
            typeof spec[f] === "string" && spec[f]
              ? [
                  <dt key={`${f}-t`}>{f === "type" ? "Type" : "Lifecycle"}</dt>,
                  <dd key={`${f}-d`}>{String(spec[f])}</dd>,
                ]
              : null,
          )}
          {tags.length > 0 && [
            <dt key="tags-t">Tags</dt>,
            <dd key="tags-d">
              {tags.map((t) => (
                <a key={t} className="tag" href={`#/catalog?metadata.tags=${encodeURIComponent(t)}`}>
                  {t}
                </a>
              ))}
            </dd>,
          ]}
          <dt>Ref</dt>
          <dd>
            <code>{formatRef({ kind: stringAt(entity, "kind"), namespace, name: stringAt(entity, "metadata.name") })}</code>
          </dd>
        </dl>
        {links.length > 0 && (
          <>
            <h3>Links</h3>
            <ul>
              {links.map((l) => (
                <li key={l.url}>
                  <a href={l.url} target="_blank" rel="noreferrer noopener">
                    {l.title}
                  </a>
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
      <div>
        <KeyValues title="Labels" values={objectAt(entity, "metadata.labels")} />
        <KeyValues title="Annotations" values={objectAt(entity, "metadata.annotations")} />
        <h2>Spec</h2>
        {Object.keys(spec).length === 0 ? <p className="muted">Empty.</p> : <JsonTree value={spec} />}
        {isAdminRole(s?.role) && <DeleteButton uid={stringAt(entity, "metadata.uid")} />}
      </div>
    </div>
  );
}

function GroupMembers({ entityRef }: { entityRef: string }) {
  const { data, error, loading, reload } = useLoad(
    () =>
      catalogClient.listEntities({
        filter: [`kind=user,relations.memberOf=${entityRef}`],
        fields: ["kind", "metadata.name", "metadata.namespace", "spec.profile.displayName", "spec.profile.email"],
        pageSize: 200,
      }),
    `members:${entityRef}`,
  );
  return (
    <section>
      <h2>Members</h2>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data && <Loading />}
      {data && data.entities.length === 0 && <Empty title="No members." />}
      {data && data.entities.length > 0 && (
        <>
          <p className="muted">{plural(data.totalItems, "member", "members")}</p>
          <ul className="cards">
            {data.entities.map((u) => {
              const r = parseRef(`user:${stringAt(u, "metadata.namespace") || "default"}/${stringAt(u, "metadata.name")}`);
              return (
                <li key={stringAt(u, "metadata.name")} className="card">
                  {r ? <a href={entityHref(r)}>{titleOf(u)}</a> : titleOf(u)}
                  <div className="muted">{stringAt(u, "spec.profile.email")}</div>
                </li>
              );
            })}
          </ul>
        </>
      )}
    </section>
  );
}

// Ownership: what the group or user owns, by kind (a user's groups' too, as Backstage counts).
function Ownership({ entityRef, entity }: { entityRef: string; entity: JsonObject }) {
  const owners = [entityRef];
  const rels = entity.relations;
  if (stringAt(entity, "kind").toLowerCase() === "user" && Array.isArray(rels)) {
    for (const r of rels) {
      if (r && typeof r === "object" && !Array.isArray(r) && r.type === "memberOf" && typeof r.targetRef === "string") owners.push(r.targetRef);
    }
  }
  const filter = owners.map((o) => `relations.ownedBy=${o}`);
  const [kind, setKind] = useState("");
  const facets = useLoad(() => catalogClient.getEntityFacets({ facets: ["kind"], filter }), `own:${entityRef}`);
  const list = useLoad(
    () =>
      catalogClient.listEntities({
        filter: kind ? filter.map((f) => `${f},kind=${kind}`) : filter,
        fields: ["kind", "metadata.name", "metadata.namespace", "metadata.title", "metadata.description", "spec.type"],
        pageSize: 100,
      }),
    `ownlist:${entityRef}:${kind}`,
  );
  const kinds = facets.data?.facets[0]?.values ?? [];
  return (
    <section>
      <h2>Ownership</h2>
      <ErrorBanner error={facets.error ?? list.error} onRetry={() => (facets.reload(), list.reload())} />
      {facets.data && kinds.length === 0 && <Empty title="Owns nothing yet." />}
      {kinds.length > 0 && (
        <div className="segmented" role="group" aria-label="Kind">
          <button type="button" className={kind === "" ? "on" : "secondary"} aria-pressed={kind === ""} onClick={() => setKind("")}>
            All
          </button>
          {kinds.map((k) => (
            <button
              key={k.value}
              type="button"
              className={kind === k.value ? "on" : "secondary"}
              aria-pressed={kind === k.value}
              onClick={() => setKind(k.value)}
            >
              {k.value} <span className="count">{k.count.toString()}</span>
            </button>
          ))}
        </div>
      )}
      {list.loading && !list.data && <Loading />}
      {list.data && list.data.entities.length > 0 && (
        <ul className="plain owned">
          {list.data.entities.map((e) => {
            const r = parseRef(`${stringAt(e, "kind")}:${stringAt(e, "metadata.namespace") || "default"}/${stringAt(e, "metadata.name")}`);
            return (
              <li key={r ? formatRef(r) : stringAt(e, "metadata.name")}>
                <span className="badge">{stringAt(e, "kind")}</span> {r ? <a href={entityHref(r)}>{stringAt(e, "metadata.name")}</a> : null}{" "}
                <span className="muted">{stringAt(e, "metadata.description")}</span>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}

function KeyValues({ title, values }: { title: string; values: JsonObject }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return null;
  return (
    <>
      <h2>{title}</h2>
      <div className="table-wrap">
        <table className="kv">
          <tbody>
            {entries.map(([k, v]) => (
              <tr key={k}>
                <th scope="row">
                  <code>{k}</code>
                </th>
                <td>{typeof v === "string" ? v : JSON.stringify(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

// JsonTree renders any JSON value as nested lists; React escapes every string.
function JsonTree({ value }: { value: JsonValue }) {
  if (value === null) return <span className="muted">null</span>;
  if (Array.isArray(value)) {
    if (value.length === 0) return <span className="muted">[]</span>;
    return (
      <ol className="json">
        {value.map((v, i) => (
          <li key={i}>
            <JsonTree value={v} />
          </li>
        ))}
      </ol>
    );
  }
  if (typeof value === "object") {
    return (
      <dl className="json">
        {Object.entries(value).map(([k, v]) => [
          <dt key={`${k}-t`}>{k}</dt>,
          <dd key={`${k}-d`}>
            <JsonTree value={v} />
          </dd>,
        ])}
      </dl>
    );
  }
  // Multi-line text (an API's definition, a template's script) keeps its lines and indents.
  if (typeof value === "string" && value.includes("\n")) return <pre className="text">{value}</pre>;
  return <span>{String(value)}</span>;
}

function DeleteButton({ uid }: { uid: string }) {
  const [error, setError] = useState<unknown>();
  async function remove() {
    if (!window.confirm("Delete this entity from the catalog?")) return;
    try {
      await catalogClient.deleteEntity({ uid });
      navigate(catalogHref());
    } catch (err) {
      setError(err);
    }
  }
  return (
    <div className="danger-zone">
      <ErrorBanner error={error} />
      <button className="danger" onClick={remove} disabled={!uid}>
        Delete entity
      </button>
    </div>
  );
}
