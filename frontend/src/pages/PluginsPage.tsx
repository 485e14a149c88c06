import { lazy, Suspense, useState } from "react";
import { isAdminRole, pluginClient } from "../api";
import { ErrorBanner, Loading, ViolationList } from "../components/ui";
import { PluginState, PluginTier, type TenantPlugin } from "../gen/atrium/entitlements/v1/entitlements_pb";
import { useLoad, useSession } from "../hooks";
import { configErrors, sortPlugins, stateLabel, tierLabel, unlockSteps, type ErrorSchema } from "../lib/plugins";
import { errorMessage, fieldViolations, type FieldViolation } from "../lib/violations";

// The schema form (react-jsonschema-form and Ajv) is the heaviest part of the page and only an
// admin who configures a plugin needs it.
const PluginConfigForm = lazy(() => import("../components/PluginConfigForm"));

// PluginsPage is the tenant's marketplace: every plugin with its state, installed first; an
// admin installs, configures and uninstalls; a locked plugin says why and what unlocks it.
export function PluginsPage() {
  const s = useSession();
  const admin = isAdminRole(s?.role);
  const { data, error, loading, reload } = useLoad(() => pluginClient.listPlugins({}), s?.tenant ?? "");
  const plugins = data ? sortPlugins(data.plugins) : [];
  return (
    <section>
      <h1>Plugins</h1>
      <p className="muted">
        What your portal can do. {data?.plan && <>Your plan: <strong>{data.plan}</strong>. </>}
        {admin ? "Installing or uninstalling takes effect at once; uninstalling keeps the plugin's data and settings." : "Admins of your organization install and configure plugins."}
      </p>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data && <Loading />}
      <ul className="plugin-grid" aria-label="Plugins">
        {plugins.map((p) => (
          <li key={p.plugin?.id}>
            <PluginCard plugin={p} admin={admin} onChanged={reload} />
          </li>
        ))}
      </ul>
    </section>
  );
}

function PluginCard({ plugin: tp, admin, onChanged }: { plugin: TenantPlugin; admin: boolean; onChanged: () => void }) {
  const pl = tp.plugin;
  const [mode, setMode] = useState<"idle" | "install" | "configure">("idle");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [serverErrors, setServerErrors] = useState<ErrorSchema>({});
  const [other, setOther] = useState<FieldViolation[]>([]);
  const [done, setDone] = useState("");
  if (!pl) return null;
  const id = pl.id;
  const headingId = `plugin-${id}`;
  const hasConfig = !!pl.configSchema && Object.keys((pl.configSchema.properties as object | undefined) ?? {}).length > 0;
  const state = tp.state;

  async function run(what: string, call: () => Promise<unknown>) {
    setBusy(true);
    setError(undefined);
    setServerErrors({});
    setOther([]);
    setDone("");
    try {
      await call();
      setMode("idle");
      setDone(what);
      onChanged();
    } catch (err) {
      const filed = configErrors(fieldViolations(err));
      setServerErrors(filed.schema);
      setOther(filed.other);
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const install = (config?: Record<string, unknown>) =>
    run(`${pl.name} installed`, () => pluginClient.installPlugin(config ? { plugin: id, config: config as never } : { plugin: id }));
  const uninstall = () => run(`${pl.name} uninstalled; its data and settings are kept`, () => pluginClient.uninstallPlugin({ plugin: id }));
  const save = (config: Record<string, unknown>) => run("Settings saved", () => pluginClient.updatePluginConfig({ plugin: id, config: config as never }));
  const steps = state === PluginState.LOCKED ? unlockSteps(tp.unavailable?.unlock) : [];
  return (
    <article className={`card plugin state-${stateLabel(state).toLowerCase()}`} aria-labelledby={headingId}>
      <header>
        <h2 id={headingId}>{pl.name}</h2>
        <span className={`badge state-badge-${stateLabel(state).toLowerCase()}`}>{stateLabel(state)}</span>
      </header>
      <p className="plugin-meta">
        <span className={pl.tier === PluginTier.PREMIUM ? "badge premium" : "badge"}>{tierLabel(pl.tier)}</span> <span className="tag">{pl.category}</span>
        {pl.dependencies.length > 0 && <span className="muted"> needs {pl.dependencies.join(", ")}</span>}
      </p>
      <p>{pl.summary}</p>
      {state === PluginState.LOCKED && (
        <div className="locked">
          <p>
            <strong>{capitalize(tp.unavailable?.message ?? "locked")}.</strong> {steps.map((st) => st.text).join(" ")}
          </p>
          {admin ? (
            <div className="actions">
              {steps.map((st) =>
                st.href ? (
                  <a key={st.kind} className={st.kind === "upgrade" ? "button primary" : "button secondary"} href={st.href}>
                    {st.action}
                  </a>
                ) : null,
              )}
            </div>
          ) : (
            <p className="muted">Ask an admin of your organization to unlock it.</p>
          )}
        </div>
      )}
      {tp.grantExpireTime && <p className="muted">Trial until {new Date(Number(tp.grantExpireTime.seconds) * 1000).toLocaleDateString()}</p>}
      {admin && mode === "idle" && state === PluginState.AVAILABLE && (
        <div className="actions">
          <button type="button" disabled={busy} onClick={() => (hasConfig ? setMode("install") : void install())} aria-describedby={headingId}>
            Install
          </button>
        </div>
      )}
      {admin && mode === "idle" && state === PluginState.INSTALLED && !pl.alwaysOn && (
        <div className="actions">
          {hasConfig && (
            <button type="button" className="secondary" disabled={busy} onClick={() => setMode("configure")} aria-describedby={headingId}>
              Configure
            </button>
          )}
          <button type="button" className="secondary danger" disabled={busy} onClick={() => void uninstall()} aria-describedby={headingId}>
            Uninstall
          </button>
        </div>
      )}
      {state === PluginState.INSTALLED && pl.alwaysOn && <p className="muted">Always on.</p>}
      {mode !== "idle" && pl.configSchema && (
        <Suspense fallback={<Loading label="Loading the settings form…" />}>
          <h3>{mode === "install" ? `Settings for ${pl.name}` : "Settings"}</h3>
          <PluginConfigForm
            schema={pl.configSchema as Record<string, unknown>}
            value={(tp.config as Record<string, unknown> | undefined) ?? {}}
            serverErrors={serverErrors}
            busy={busy}
            submitLabel={mode === "install" ? "Install" : "Save"}
            onSubmit={(c) => void (mode === "install" ? install(c) : save(c))}
            onCancel={() => {
              setMode("idle");
              setError(undefined);
              setServerErrors({});
            }}
          />
        </Suspense>
      )}
      {error !== undefined && (
        <div className="error" role="alert">
          {Object.keys(serverErrors).length > 0 ? "Please correct the settings marked above." : errorMessage(error)}
          <ViolationList violations={other} />
        </div>
      )}
      {done && (
        <p className="ok" role="status">
          {done}
        </p>
      )}
    </article>
  );
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
