import { timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import { useEffect, useRef, useState } from "react";
import { insightsClient } from "../api";
import { ErrorBanner, Loading } from "../components/ui";
import { Grouping, Report, type TopItem } from "../gen/atrium/insights/v1/insights_pb";
import { useLoad } from "../hooks";

Chart.register(LineController, LineElement, PointElement, BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const groupings: [string, Grouping][] = [
  ["Hour", Grouping.HOUR],
  ["Day", Grouping.DAY],
  ["Week", Grouping.WEEK],
  ["Month", Grouping.MONTH],
];

// notInstalled: the gateway refuses premium methods of a tenant without the plugin.
export function notInstalled(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.PermissionDenied && /insights/.test(err.message);
}

function range(days: number) {
  const end = Date.now();
  return { startTime: timestampFromMs(end - days * 86_400_000), endTime: timestampFromMs(end) };
}

async function loadAll(days: number, grouping: Grouping) {
  const r = range(days);
  const [users, plugins, entities, searches, noResults, templates, docs, retention] = await Promise.all([
    insightsClient.getActiveUsers({ range: r, grouping }),
    insightsClient.getPluginAdoption({ range: r }),
    insightsClient.getTopEntities({ range: r }),
    insightsClient.getTopSearches({ range: r }),
    insightsClient.getTopSearches({ range: r, noResultsOnly: true }),
    insightsClient.getTopTemplates({ range: r }),
    insightsClient.getTopDocs({ range: r }),
    insightsClient.getRetention({ range: range(Math.min(days, 56)) }),
  ]);
  return { users, plugins, entities, searches, noResults, templates, docs, retention };
}

export function InsightsPage() {
  const [days, setDays] = useState(30);
  const [grouping, setGrouping] = useState(Grouping.DAY);
  const g = days > 31 && grouping === Grouping.HOUR ? Grouping.DAY : grouping;
  const data = useLoad(() => loadAll(days, g), `${days}/${g}`);

  if (data.error && notInstalled(data.error)) return <NotInstalled />;
  return (
    <section className="insights">
      <h1>Insights</h1>
      <div className="toolbar">
        <label>
          Range{" "}
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            <option value={7}>7 days</option>
            <option value={30}>30 days</option>
            <option value={90}>90 days</option>
          </select>
        </label>{" "}
        <label>
          Group by{" "}
          <select value={g} onChange={(e) => setGrouping(Number(e.target.value) as Grouping)}>
            {groupings.map(([name, v]) => (
              <option key={v} value={v} disabled={v === Grouping.HOUR && days > 31}>
                {name}
              </option>
            ))}
          </select>
        </label>{" "}
        <button className="secondary small" onClick={data.reload}>
          Refresh
        </button>
      </div>
      {data.error !== undefined && <ErrorBanner error={data.error} />}
      {data.loading && !data.data && <Loading />}
      {data.data && <Dashboard d={data.data} days={days} grouping={g} />}
    </section>
  );
}

type Data = Awaited<ReturnType<typeof loadAll>>;

function Dashboard({ d, days, grouping }: { d: Data; days: number; grouping: Grouping }) {
  const u = d.users;
  const empty = u.totalUsers === 0n && d.plugins.plugins.length === 0;
  const q = u.quota;
  return (
    <>
      {q && q.limit >= 0n && q.dropped > 0n && (
        <p className="banner warn">
          This month's event limit ({q.limit.toString()}) is reached: {q.dropped.toString()} events were not counted.
          Upgrade the plan to keep everything.
        </p>
      )}
      {empty ? (
        <p className="muted">
          No data yet. Usage is recorded as people use the portal and the API; it shows up here within seconds.
        </p>
      ) : null}
      <div className="cards">
        <Card title="Active users in range" value={u.totalUsers.toString()} />
        <Card title="MAU (rolling 30 days)" value={(u.points.at(-1)?.mau ?? 0n).toString()} />
        <Card
          title="Adoption"
          value={u.seats > 0n ? `${Math.round(u.adoption * 100)}%` : "–"}
          note={u.seats > 0n ? `of ${u.seats.toString()} seats` : "seats unknown"}
        />
      </div>
      <h2>Active users</h2>
      <LineChart
        labels={u.points.map((p) => label(p.time ? timestampDate(p.time) : new Date(0), grouping))}
        series={[
          ["Active", u.points.map((p) => Number(p.activeUsers))],
          ["WAU", u.points.map((p) => Number(p.wau))],
          ["MAU", u.points.map((p) => Number(p.mau))],
        ]}
      />
      <Export report={Report.ACTIVE_USERS} days={days} grouping={grouping} />
      <h2>Plugins</h2>
      <BarChart labels={d.plugins.plugins.map((p) => p.pluginId)} values={d.plugins.plugins.map((p) => Number(p.users))} name="Users" />
      <table>
        <thead>
          <tr>
            <th>Plugin</th>
            <th>Users</th>
            <th>Calls</th>
            <th>Errors</th>
            <th>Adoption</th>
          </tr>
        </thead>
        <tbody>
          {d.plugins.plugins.map((p) => (
            <tr key={p.pluginId}>
              <td>{p.pluginId}</td>
              <td>{p.users.toString()}</td>
              <td>{p.calls.toString()}</td>
              <td>{p.errors.toString()}</td>
              <td>{Math.round(p.adoption * 100)}%</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Export report={Report.PLUGIN_ADOPTION} days={days} grouping={grouping} />
      <div className="tops">
        <Top title="Top entities" items={d.entities.items} report={Report.TOP_ENTITIES} days={days} />
        <Top title="Top searches" items={d.searches.items} report={Report.TOP_SEARCHES} days={days} />
        <Top title="Searches with no result" items={d.noResults.items} noResults report={Report.TOP_SEARCHES} days={days} />
        <Top title="Top templates" items={d.templates.items} report={Report.TOP_TEMPLATES} days={days} />
        <Top title="Top docs" items={d.docs.items} report={Report.TOP_DOCS} days={days} />
      </div>
      <h2>Weekly retention</h2>
      <Retention d={d} />
      <Export report={Report.RETENTION} days={Math.min(days, 56)} grouping={grouping} />
    </>
  );
}

function label(t: Date, g: Grouping): string {
  const iso = t.toISOString();
  return g === Grouping.HOUR ? iso.slice(5, 13).replace("T", " ") + "h" : g === Grouping.MONTH ? iso.slice(0, 7) : iso.slice(0, 10);
}

function Card(props: { title: string; value: string; note?: string }) {
  return (
    <div className="card">
      <div className="muted">{props.title}</div>
      <div className="big">{props.value}</div>
      {props.note && <div className="muted small">{props.note}</div>}
    </div>
  );
}

function Top(props: { title: string; items: TopItem[]; noResults?: boolean; report: Report; days: number }) {
  return (
    <div>
      <h3>{props.title}</h3>
      {props.items.length === 0 ? (
        <p className="muted">Nothing yet.</p>
      ) : (
        <ol>
          {props.items.map((it) => (
            <li key={it.key}>
              <code>{it.key}</code> {(props.noResults ? it.noResults : it.count).toString()}
            </li>
          ))}
        </ol>
      )}
      <Export report={props.report} days={props.days} grouping={Grouping.DAY} noResults={props.noResults} />
    </div>
  );
}

function Retention({ d }: { d: Data }) {
  const cohorts = d.retention.cohorts;
  const width = Math.max(0, ...cohorts.map((c) => c.active.length));
  return (
    <table className="retention">
      <thead>
        <tr>
          <th>Cohort</th>
          <th>Users</th>
          {Array.from({ length: width }, (_, k) => (
            <th key={k}>W{k}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {cohorts.map((c) => (
          <tr key={c.week ? timestampDate(c.week).toISOString() : ""}>
            <td>{c.week ? timestampDate(c.week).toISOString().slice(0, 10) : ""}</td>
            <td>{c.users.toString()}</td>
            {c.active.map((a, k) => {
              const share = c.users > 0n ? Number(a) / Number(c.users) : 0;
              return (
                <td key={k} style={{ background: `rgba(37, 99, 235, ${share * 0.8})` }} title={`${a} users`}>
                  {c.users > 0n ? `${Math.round(share * 100)}%` : "–"}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Export(props: { report: Report; days: number; grouping: Grouping; noResults?: boolean }) {
  const [error, setError] = useState<unknown>();
  async function download() {
    setError(undefined);
    try {
      const r = await insightsClient.exportCsv({
        report: props.report,
        range: range(props.days),
        grouping: props.grouping,
        noResultsOnly: props.noResults ?? false,
      });
      const url = URL.createObjectURL(new Blob([r.content], { type: "text/csv" }));
      const a = document.createElement("a");
      a.href = url;
      a.download = r.filename;
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setError(err);
    }
  }
  return (
    <p>
      <button className="secondary small" onClick={() => void download()}>
        Export CSV
      </button>
      {error !== undefined && <ErrorBanner error={error} />}
    </p>
  );
}

function useChart(make: (canvas: HTMLCanvasElement) => Chart, deps: unknown[]) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!ref.current) return;
    const chart = make(ref.current);
    return () => chart.destroy();
  }, deps);
  return ref;
}

const colors = ["#2563eb", "#16a34a", "#d97706"];

function LineChart({ labels, series }: { labels: string[]; series: [string, number[]][] }) {
  const ref = useChart(
    (c) =>
      new Chart(c, {
        type: "line",
        data: {
          labels,
          datasets: series.map(([name, data], i) => ({ label: name, data, borderColor: colors[i], pointRadius: 0, tension: 0.2 })),
        },
        options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
      }),
    [JSON.stringify([labels, series])],
  );
  return (
    <div className="chart">
      <canvas ref={ref} aria-label="Active users over time" role="img" />
    </div>
  );
}

function BarChart({ labels, values, name }: { labels: string[]; values: number[]; name: string }) {
  const ref = useChart(
    (c) =>
      new Chart(c, {
        type: "bar",
        data: { labels, datasets: [{ label: name, data: values, backgroundColor: colors[0] }] },
        options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true } } },
      }),
    [JSON.stringify([labels, values])],
  );
  return (
    <div className="chart small">
      <canvas ref={ref} aria-label={`${name} per plugin`} role="img" />
    </div>
  );
}

// NotInstalled shows what the plugin would show, and how to get it.
function NotInstalled() {
  return (
    <section className="insights">
      <h1>Insights</h1>
      <p className="banner">
        The Insights plugin is not installed for this organization. Usage is already being recorded, so once it is
        installed the dashboards show your history at once.
      </p>
      <ul>
        <li>Daily, weekly and monthly active users, and adoption against your seats</li>
        <li>Which plugins people use, and how often calls fail</li>
        <li>The most viewed entities and docs, the most run templates</li>
        <li>What people search for, and the searches that find nothing</li>
        <li>Weekly retention cohorts, and CSV export of every report</li>
      </ul>
      <p>
        <a className="button" href="#/plugins">
          Install Insights
        </a>
      </p>
    </section>
  );
}
