import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { useState } from "react";
import { catalogClient, isAdminRole } from "../api";
import { ErrorBanner, Loading } from "../components/ui";
import { navigate, useLoad, useSession } from "../hooks";
import { entityHref, formatRef, parseRef, refHref } from "../lib/entityRef";
import { objectAt, relationsByType, safeLinks, stringAt, stringsAt, titleOf } from "../lib/entity";
import { catalogHref } from "./CatalogPage";

// Spec fields that hold entity references, with the kind Backstage assumes for each.
const refFields: [string, string][] = [
  ["owner", "group"],
  ["system", "system"],
  ["domain", "domain"],
  ["subcomponentOf", "component"],
  ["parent", "group"],
];

export function EntityPage(props: { kind: string; namespace: string; entity: string }) {
  const ref = formatRef({ kind: props.kind, namespace: props.namespace, name: props.entity });
  const { data, error, loading } = useLoad(() => catalogClient.getEntityByRef({ ref }), ref);
  const entity = data?.entity;
  return (
    <section>
      <p>
        <a href={catalogHref()}>← Catalog</a>
      </p>
      <ErrorBanner error={error} />
      {loading && !entity && <Loading />}
      {entity && <EntityView entity={entity} />}
    </section>
  );
}

function EntityView({ entity }: { entity: JsonObject }) {
  const s = useSession();
  const namespace = stringAt(entity, "metadata.namespace") || "default";
  const title = titleOf(entity);
  const spec = objectAt(entity, "spec");
  const links = safeLinks(entity);
  const tags = stringsAt(entity, "metadata.tags");
  const relations = relationsByType(entity);
  return (
    <>
      <h1>
        <span className="badge">{stringAt(entity, "kind")}</span> {title}
      </h1>
      <p>{stringAt(entity, "metadata.description")}</p>
      {tags.length > 0 && (
        <p>
          {tags.map((t) => (
            <a key={t} className="tag" href={`#/catalog?metadata.tags=${encodeURIComponent(t)}`}>
              {t}
            </a>
          ))}
        </p>
      )}
      <div className="columns">
        <div>
          <h2>About</h2>
          <dl className="facts">
            <dt>Ref</dt>
            <dd>
              <code>
                {formatRef({ kind: stringAt(entity, "kind"), namespace, name: stringAt(entity, "metadata.name") })}
              </code>
            </dd>
            {refFields.map(([field, kind]) => {
              const v = spec[field];
              if (typeof v !== "string" || !v) return null;
              const target = parseRef(v, { kind, namespace });
              return [
                <dt key={`${field}-t`}>{field}</dt>,
                <dd key={`${field}-d`}>{target ? <a href={entityHref(target)}>{v}</a> : v}</dd>,
              ];
            })}
            <dt>API version</dt>
            <dd>{stringAt(entity, "apiVersion")}</dd>
            <dt>UID</dt>
            <dd>
              <code>{stringAt(entity, "metadata.uid")}</code>
            </dd>
            <dt>Etag</dt>
            <dd>
              <code>{stringAt(entity, "metadata.etag")}</code>
            </dd>
          </dl>
          {links.length > 0 && (
            <>
              <h2>Links</h2>
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
          <KeyValues title="Labels" values={objectAt(entity, "metadata.labels")} />
          <KeyValues title="Annotations" values={objectAt(entity, "metadata.annotations")} />
        </div>
        <div>
          <h2>Relations</h2>
          {relations.length === 0 && <p className="muted">None.</p>}
          <dl className="facts">
            {relations.map(([type, targets]) => [
              <dt key={`${type}-t`}>{type}</dt>,
              <dd key={`${type}-d`}>
                <ul className="plain">
                  {targets.map((t) => {
                    const href = refHref(t);
                    return <li key={t}>{href ? <a href={href}>{t}</a> : t}</li>;
                  })}
                </ul>
              </dd>,
            ])}
          </dl>
        </div>
      </div>
      <h2>Spec</h2>
      {Object.keys(spec).length === 0 ? <p className="muted">Empty.</p> : <JsonTree value={spec} />}
      {isAdminRole(s?.role) && <DeleteButton uid={stringAt(entity, "metadata.uid")} />}
    </>
  );
}

function KeyValues({ title, values }: { title: string; values: JsonObject }) {
  const entries = Object.entries(values);
  if (entries.length === 0) return null;
  return (
    <>
      <h2>{title}</h2>
      <table className="kv">
        <tbody>
          {entries.map(([k, v]) => (
            <tr key={k}>
              <th>
                <code>{k}</code>
              </th>
              <td>{typeof v === "string" ? v : JSON.stringify(v)}</td>
            </tr>
          ))}
        </tbody>
      </table>
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
