import { timestampDate } from "@bufbuild/protobuf/wkt";
import { useState, type FormEvent } from "react";
import { isAdminRole } from "../api";
import { billingClient } from "../billingApi";
import { Empty, ErrorBanner, Field, Loading, ViolationList, formatTime } from "../components/ui";
import type { Billing, Invoice, Plan } from "../gen/atrium/billing/v1/billing_pb";
import { useLoad, useSession } from "../hooks";
import {
  billingBanner,
  billingOff,
  checkoutNotice,
  formatMoney,
  hasLiveSubscription,
  includedRequests,
  planAction,
  planPrice,
  seatsLine,
  stateLabel,
} from "../lib/billing";
import { fieldViolations, formErrorMessage, violationsByField } from "../lib/violations";

const checkoutFields = ["plan", "seats"] as const;

// The Billing page (owners and admins): the subscription, its invoices, and the ways to pay:
// Stripe Checkout to upgrade, Stripe's Customer Portal for cards, invoices and changes.
export function BillingPage({ search }: { search: URLSearchParams }) {
  const s = useSession();
  const admin = isAdminRole(s?.role);
  const { data, error, loading, reload } = useLoad(
    () => (admin ? billingClient.getBilling({}) : Promise.resolve(undefined)),
    `${s?.tenant ?? ""}:${admin}`,
  );
  if (!admin) {
    return (
      <section>
        <h1>Billing</h1>
        <p>Only owners and admins see the organization&apos;s billing. Ask one of them to change the plan.</p>
      </section>
    );
  }
  const notice = checkoutNotice(search);
  const b = data?.billing;
  return (
    <section>
      <h1>Billing</h1>
      {notice && <p role="status">{notice}</p>}
      {error !== undefined && billingOff(error) ? (
        <Empty title="Billing is not enabled on this installation">
          <p>Plans here are set by the operator: ask them (tenantctl plans set) to change yours.</p>
        </Empty>
      ) : (
        <ErrorBanner error={error} onRetry={reload} />
      )}
      {loading && !data && <Loading label="Loading billing…" />}
      {b && <BillingSummary billing={b} onChanged={reload} />}
      {b && <PlanTable billing={b} />}
      {b && <Invoices hasCustomer={b.hasCustomer} />}
    </section>
  );
}

function ts(t: Parameters<typeof timestampDate>[0] | undefined): Date | undefined {
  return t ? timestampDate(t) : undefined;
}

function BillingSummary({ billing: b, onChanged }: { billing: Billing; onChanged: () => void }) {
  const banner = billingBanner(b);
  const plan = b.plans.find((p) => p.id === b.plan);
  const start = ts(b.currentPeriodStart);
  const end = ts(b.currentPeriodEnd);
  return (
    <>
      {banner && (
        <div className={banner.tone === "danger" ? "error" : "warning"} role="alert">
          {banner.text} {b.hasCustomer && "Pay or update the card in the Customer Portal below."}
        </div>
      )}
      <h2>Subscription</h2>
      <dl className="facts">
        <dt>Plan</dt>
        <dd data-testid="billing-plan">{plan?.displayName ?? b.plan}</dd>
        <dt>Status</dt>
        <dd>
          {stateLabel(b.state)}
          {b.cancelAtPeriodEnd && end && ` (ends ${end.toLocaleDateString()}, then the free plan)`}
        </dd>
        <dt>Seats</dt>
        <dd>{seatsLine(b)}</dd>
        <dt>Current period</dt>
        <dd>{start && end ? `${start.toLocaleDateString()} – ${end.toLocaleDateString()}` : "—"}</dd>
        {b.trialEndTime && (
          <>
            <dt>Trial ends</dt>
            <dd>{formatTime(ts(b.trialEndTime))}</dd>
          </>
        )}
        <dt>Next invoice (estimate)</dt>
        <dd>
          {b.nextInvoice
            ? `${formatMoney(b.nextInvoice.amountDue, b.nextInvoice.currency)}${b.nextInvoice.time ? ` on ${ts(b.nextInvoice.time)?.toLocaleDateString()}` : ""}`
            : "None"}
        </dd>
      </dl>
      {hasLiveSubscription(b) || b.hasCustomer ? <PortalButton /> : <CheckoutForm billing={b} onChanged={onChanged} />}
    </>
  );
}

// go leaves for a Stripe page.
function go(url: string) {
  window.location.assign(url);
}

function PortalButton() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  async function open() {
    setBusy(true);
    setError(undefined);
    try {
      go((await billingClient.createPortalSession({})).url);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  }
  return (
    <div>
      <ErrorBanner error={error} onRetry={open} />
      <button type="button" onClick={open} disabled={busy}>
        {busy ? "Opening Stripe…" : "Manage billing in the Customer Portal"}
      </button>
      <p className="muted">Cards, invoices, seats, plan changes and cancellation are handled by Stripe.</p>
    </div>
  );
}

function CheckoutForm({ billing: b, onChanged }: { billing: Billing; onChanged: () => void }) {
  const buyable = b.plans.filter((p) => planAction(b, p).kind === "checkout");
  const [plan, setPlan] = useState(buyable[0]?.id ?? "");
  const [seats, setSeats] = useState(String(Math.max(1, Number(b.seatsUsed))));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const v = violationsByField(fieldViolations(error), checkoutFields);
  if (buyable.length === 0) return null;
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(undefined);
    setBusy(true);
    try {
      const n = seats.trim() === "" ? 0n : BigInt(Math.trunc(Number(seats)));
      go((await billingClient.createCheckoutSession({ plan, seats: n })).url);
    } catch (err) {
      setError(err);
      setBusy(false);
      onChanged();
    }
  }
  return (
    <form onSubmit={submit} noValidate aria-label="Upgrade">
      <h2>Upgrade</h2>
      <ErrorBanner error={error} hideViolations message={error !== undefined ? formErrorMessage(error, v) : undefined} />
      <ViolationList violations={v.other} />
      <Field label="Plan" errors={v.byField.plan}>
        <select value={plan} onChange={(e) => setPlan(e.target.value)}>
          {buyable.map((p) => (
            <option key={p.id} value={p.id}>
              {p.displayName} ({planPrice(p)})
            </option>
          ))}
        </select>
      </Field>
      <Field label="Seats" errors={v.byField.seats} hint="One per member; you can add more later.">
        <input type="number" min={1} inputMode="numeric" value={seats} onChange={(e) => setSeats(e.target.value)} />
      </Field>
      <button type="submit" disabled={busy}>
        {busy ? "Opening Stripe Checkout…" : "Upgrade with Stripe Checkout"}
      </button>
    </form>
  );
}

function PlanTable({ billing: b }: { billing: Billing }) {
  if (b.plans.length === 0) return null;
  return (
    <>
      <h2>Compare plans</h2>
      <table className="responsive">
        <caption className="sr-only">Plans with their price, API allowance and what they include</caption>
        <thead>
          <tr>
            <th scope="col">Plan</th>
            <th scope="col">Price</th>
            <th scope="col">API requests</th>
            <th scope="col">Includes</th>
            <th scope="col">
              <span className="sr-only">Action</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {b.plans.map((p) => (
            <tr key={p.id}>
              <th scope="row" data-label="Plan">
                {p.displayName}
              </th>
              <td data-label="Price">{planPrice(p)}</td>
              <td data-label="API requests">{includedRequests(p)}</td>
              <td data-label="Includes">
                <ul className="plain">
                  {p.features.map((f) => (
                    <li key={f}>{f}</li>
                  ))}
                </ul>
              </td>
              <td>
                <PlanCell billing={b} plan={p} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function PlanCell({ billing, plan }: { billing: Billing; plan: Plan }) {
  const a = planAction(billing, plan);
  switch (a.kind) {
    case "current":
      return <strong>Current plan</strong>;
    case "checkout":
      return <span className="muted">Upgrade above</span>;
    case "portal":
      return <span className="muted">Change in the Customer Portal</span>;
    case "sales":
      return <span className="muted">Contact sales</span>;
    default:
      return null;
  }
}

function Invoices({ hasCustomer }: { hasCustomer: boolean }) {
  const [pages, setPages] = useState<Invoice[][]>([]);
  const [next, setNext] = useState("");
  const [more, setMore] = useState<unknown>();
  const { data, error, loading, reload } = useLoad(() => billingClient.listInvoices({ pageSize: 20 }), String(hasCustomer));
  const first = data?.invoices ?? [];
  const token = pages.length > 0 ? next : (data?.nextPageToken ?? "");
  async function loadMore() {
    setMore(undefined);
    try {
      const r = await billingClient.listInvoices({ pageSize: 20, pageToken: token });
      setPages((p) => [...p, r.invoices]);
      setNext(r.nextPageToken);
    } catch (e) {
      setMore(e);
    }
  }
  const all = [...first, ...pages.flat()];
  return (
    <>
      <h2>Invoices</h2>
      <ErrorBanner error={error} onRetry={reload} />
      {loading && !data && <Loading label="Loading invoices…" />}
      {data && all.length === 0 && (
        <Empty title="No invoices yet">
          <p>{hasCustomer ? "The first invoice comes at the start of the first paid period." : "Upgrade to a paid plan above; its invoices appear here."}</p>
        </Empty>
      )}
      {all.length > 0 && (
        <table className="responsive">
          <thead>
            <tr>
              <th scope="col">Invoice</th>
              <th scope="col">Date</th>
              <th scope="col">Status</th>
              <th scope="col">Amount</th>
            </tr>
          </thead>
          <tbody>
            {all.map((i) => (
              <tr key={i.id}>
                <td data-label="Invoice">
                  {i.hostedInvoiceUrl ? (
                    <a href={i.hostedInvoiceUrl} rel="noreferrer" target="_blank">
                      {i.number || i.id}
                    </a>
                  ) : (
                    i.number || i.id
                  )}
                  {i.pdfUrl && (
                    <>
                      {" "}
                      <a href={i.pdfUrl} rel="noreferrer" target="_blank" aria-label={`PDF of invoice ${i.number || i.id}`}>
                        PDF
                      </a>
                    </>
                  )}
                </td>
                <td data-label="Date">{ts(i.createTime)?.toLocaleDateString() ?? "—"}</td>
                <td data-label="Status">{i.status}</td>
                <td data-label="Amount">{formatMoney(i.status === "paid" ? i.amountPaid : i.amountDue, i.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorBanner error={more} onRetry={loadMore} />
      {token && (
        <button type="button" className="secondary" onClick={loadMore}>
          Load more invoices
        </button>
      )}
    </>
  );
}
