import { useEffect, useRef, useState } from "react";
import { loadVendor } from "../lib/vendor";
import { ErrorBanner, Loading } from "./ui";

// API definitions as Backstage's api-docs plugin shows them: OpenAPI with Swagger UI,
// AsyncAPI with AsyncAPI's React component, GraphQL and gRPC (protobuf) as highlighted
// source. Each renderer is its own chunk, fetched only when an API of its type is opened.

export default function ApiDefinition({ type, definition }: { type: string; definition: string }) {
  const [raw, setRaw] = useState(false);
  if (!definition.trim()) return <p className="muted">This API has no definition.</p>;
  const t = type.toLowerCase();
  const rich = t === "openapi" || t === "asyncapi";
  return (
    <section className="api-definition">
      <h2>
        Definition <span className="badge">{type || "unknown type"}</span>
      </h2>
      {rich && (
        <p>
          <label>
            <input type="checkbox" checked={raw} onChange={(e) => setRaw(e.target.checked)} /> Show raw definition
          </label>
        </p>
      )}
      {raw || !rich ? (
        <Highlighted language={t === "grpc" ? "protobuf" : t === "graphql" ? "graphql" : ""} code={definition} />
      ) : t === "openapi" ? (
        <OpenApiView definition={definition} />
      ) : (
        <AsyncApiView definition={definition} />
      )}
    </section>
  );
}

// Highlighted: Prism with the language's grammar loaded on demand. Prism escapes the code it
// tokenizes, so the HTML it returns holds no markup from the definition.
function Highlighted({ language, code }: { language: string; code: string }) {
  const [html, setHtml] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    if (!language) {
      setHtml(null);
      return;
    }
    void (async () => {
      const Prism = (await import("prismjs")).default;
      // Prism's grammar files register themselves on the global Prism.
      (globalThis as unknown as { Prism: typeof Prism }).Prism = Prism;
      if (language === "protobuf") await import("prismjs/components/prism-protobuf");
      if (language === "graphql") await import("prismjs/components/prism-graphql");
      const grammar = Prism.languages[language];
      if (live && grammar) setHtml(Prism.highlight(code, grammar, language));
    })();
    return () => {
      live = false;
    };
  }, [language, code]);
  return (
    <pre className={`code language-${language || "none"}`} tabIndex={0} aria-label="Definition source">
      {html === null ? <code>{code}</code> : <code dangerouslySetInnerHTML={{ __html: html }} />}
    </pre>
  );
}

interface AsyncApiStandalone {
  render(props: { schema: string; config?: Record<string, unknown> }, el: HTMLElement): void;
}

type SwaggerUIBundle = (opts: Record<string, unknown>) => unknown;

// OpenApiView is Swagger UI, as Backstage's api-docs plugin renders OpenAPI. "Try it out" is
// off: calls would leave from the reader's browser to servers the definition names.
function OpenApiView({ definition }: { definition: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<unknown>();
  const [ready, setReady] = useState(false);
  useEffect(() => {
    let live = true;
    Promise.all([loadVendor<SwaggerUIBundle>("swagger-ui-bundle.js", "swagger-ui.css", "SwaggerUIBundle"), parseSpec(definition)]).then(
      ([SwaggerUI, spec]) => {
        if (!live || !ref.current) return;
        SwaggerUI({ domNode: ref.current, spec, supportedSubmitMethods: [], docExpansion: "list", defaultModelsExpandDepth: 0 });
        setReady(true);
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [definition]);
  return (
    <>
      <ErrorBanner error={error} />
      {!ready && !error && <Loading label="Loading the OpenAPI viewer…" />}
      <div ref={ref} className="openapi" data-testid="openapi" />
    </>
  );
}

// Swagger UI takes the spec as an object: JSON or YAML (js-yaml, loaded with the viewer).
async function parseSpec(definition: string): Promise<unknown> {
  try {
    return JSON.parse(definition);
  } catch {
    const yaml = await import("js-yaml");
    return yaml.load(definition);
  }
}

// AsyncApiView mounts AsyncAPI's standalone bundle (it carries its own parser) into a div.
function AsyncApiView({ definition }: { definition: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let live = true;
    loadVendor<AsyncApiStandalone>("asyncapi-standalone.js", "asyncapi.css", "AsyncApiStandalone").then(
      (lib) => {
        if (live && ref.current) lib.render({ schema: definition, config: { show: { sidebar: false } } }, ref.current);
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [definition]);
  return (
    <>
      <ErrorBanner error={error} />
      <div ref={ref} className="asyncapi" data-testid="asyncapi" />
    </>
  );
}
