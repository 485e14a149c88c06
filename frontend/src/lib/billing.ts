// Billing page logic kept out of React, so it is unit-tested: money, the state's words, the
// past-due banner and what each plan of the comparison table offers.
import { BillingState, type Billing, type Plan } from "../gen/atrium/billing/v1/billing_pb";

// Currencies whose smallest unit is the unit itself (Stripe's list, the ones that matter).
const zeroDecimal = new Set(["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]);

// formatMoney writes an amount in the currency's smallest unit (Stripe's) as money.
export function formatMoney(amount: bigint | number, currency: string, locale?: string): string {
  const cur = (currency || "usd").toLowerCase();
  const n = Number(amount) / (zeroDecimal.has(cur) ? 1 : 100);
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency: cur.toUpperCase() }).format(n);
  } catch {
    return `${n.toFixed(2)} ${cur.toUpperCase()}`;
  }
}

export function stateLabel(s: BillingState): string {
  switch (s) {
    case BillingState.TRIALING:
      return "Trial";
    case BillingState.ACTIVE:
      return "Active";
    case BillingState.PAST_DUE:
      return "Past due";
    case BillingState.SUSPENDED:
      return "Suspended (read-only)";
    case BillingState.CANCELED:
      return "Canceled";
    case BillingState.INCOMPLETE:
      return "Payment incomplete";
    case BillingState.NONE:
      return "Free plan";
    default:
      return "Unknown";
  }
}

// hasLiveSubscription: Checkout is refused then (billing answers FailedPrecondition); the
// Customer Portal changes or cancels it instead.
export function hasLiveSubscription(b: Pick<Billing, "state">): boolean {
  return [BillingState.TRIALING, BillingState.ACTIVE, BillingState.PAST_DUE, BillingState.SUSPENDED, BillingState.INCOMPLETE].includes(b.state);
}

export interface Banner {
  tone: "warn" | "danger";
  text: string;
}

// billingBanner is the app-wide notice for admins: past due with the days left before the
// organization becomes read-only, or suspended until paid. Null when nothing is owed.
export function billingBanner(b: Pick<Billing, "state" | "graceDaysLeft" | "paymentState">): Banner | null {
  if (b.state === BillingState.PAST_DUE) {
    const d = b.graceDaysLeft;
    const when = d <= 0 ? "today" : d === 1 ? "in 1 day" : `in ${d} days`;
    return { tone: "warn", text: `Payment past due: the organization becomes read-only ${when} unless the invoice is paid.` };
  }
  if (b.state === BillingState.SUSPENDED) {
    return { tone: "danger", text: "Suspended for an unpaid invoice: the organization is read-only until it is paid." };
  }
  if (b.paymentState === "action_required") {
    return { tone: "warn", text: "A payment needs your confirmation (for example 3-D Secure)." };
  }
  return null;
}

export type PlanAction =
  | { kind: "current" }
  | { kind: "checkout"; plan: string }
  | { kind: "portal" }
  | { kind: "sales" }
  | { kind: "none" };

// planAction is what the comparison table offers for plan p: the current plan is marked,
// a paid self-serve plan is bought through Checkout when there is no live subscription and
// changed in the Customer Portal when there is one; a sales-led plan says so.
export function planAction(b: Pick<Billing, "plan" | "state">, p: Pick<Plan, "id" | "selfServe" | "seatUnitAmount">): PlanAction {
  if (p.id === b.plan) return { kind: "current" };
  if (p.seatUnitAmount === 0n) return hasLiveSubscription(b) ? { kind: "portal" } : { kind: "none" };
  if (!p.selfServe) return { kind: "sales" };
  return hasLiveSubscription(b) ? { kind: "portal" } : { kind: "checkout", plan: p.id };
}

// planPrice is the table's price cell.
export function planPrice(p: Pick<Plan, "seatUnitAmount" | "currency" | "interval">): string {
  if (p.seatUnitAmount === 0n) return "Free";
  return `${formatMoney(p.seatUnitAmount, p.currency)} per seat / ${p.interval || "month"}`;
}

// includedRequests is the table's API allowance cell.
export function includedRequests(p: Pick<Plan, "includedRequests" | "overageUnitAmount" | "currency">): string {
  if (p.includedRequests < 0n) return "Unlimited";
  const n = `${Number(p.includedRequests).toLocaleString("en-US")} a month`;
  return p.overageUnitAmount > 0n ? `${n}, then ${formatMoney(p.overageUnitAmount, p.currency)} per 1,000` : n;
}

// seatsLine is "3 of 5 paid seats used" (or the member count alone without a subscription).
export function seatsLine(b: Pick<Billing, "seatsUsed" | "seatsPaid" | "state">): string {
  const used = Number(b.seatsUsed);
  if (!hasLiveSubscription(b) || b.seatsPaid === 0n) return `${used} ${used === 1 ? "member" : "members"}`;
  return `${used} of ${Number(b.seatsPaid)} paid seats used`;
}

// billingOff: this installation runs without billing (no Stripe): the gateway has no route
// for it. The page says so instead of showing an error to retry.
export function billingOff(err: unknown): boolean {
  const code = (err as { code?: number } | undefined)?.code;
  // Connect codes: 5 NotFound, 12 Unimplemented.
  return code === 12 || code === 5;
}

// checkoutNotice is the line shown on return from Stripe Checkout.
export function checkoutNotice(search: URLSearchParams): string | undefined {
  switch (search.get("checkout")) {
    case "success":
      return "Payment received. The new plan applies as soon as Stripe confirms it (usually seconds).";
    case "canceled":
      return "Checkout was canceled; nothing was charged.";
    default:
      return undefined;
  }
}
