import { describe, expect, it } from "vitest";
import { BillingState } from "../gen/atrium/billing/v1/billing_pb";
import { billingBanner, formatMoney, hasLiveSubscription, includedRequests, planAction, planPrice, seatsLine } from "./billing";

describe("formatMoney", () => {
  it.each([
    [1500n, "usd", "$15.00"],
    [0n, "usd", "$0.00"],
    [500, "jpy", "¥500"],
    [1234n, "", "$12.34"],
  ])("%s %s", (amount, cur, want) => {
    expect(formatMoney(amount, cur, "en-US")).toBe(want);
  });
});

describe("billingBanner", () => {
  it.each([
    [BillingState.ACTIVE, 0, "ok", null],
    [BillingState.PAST_DUE, 5, "failed", "read-only in 5 days"],
    [BillingState.PAST_DUE, 1, "failed", "read-only in 1 day"],
    [BillingState.PAST_DUE, 0, "failed", "read-only today"],
    [BillingState.SUSPENDED, 0, "failed", "read-only until it is paid"],
    [BillingState.ACTIVE, 0, "action_required", "needs your confirmation"],
  ])("state %s, %d days", (state, graceDaysLeft, paymentState, want) => {
    const b = billingBanner({ state, graceDaysLeft, paymentState });
    if (want === null) expect(b).toBeNull();
    else expect(b?.text).toContain(want);
  });
});

describe("planAction", () => {
  const team = { id: "team", selfServe: true, seatUnitAmount: 1500n };
  const ent = { id: "enterprise", selfServe: false, seatUnitAmount: 4000n };
  const free = { id: "free", selfServe: true, seatUnitAmount: 0n };
  it.each([
    ["free tenant buys team through Checkout", { plan: "free", state: BillingState.NONE }, team, { kind: "checkout", plan: "team" }],
    ["current plan", { plan: "free", state: BillingState.NONE }, free, { kind: "current" }],
    ["sales-led plan", { plan: "free", state: BillingState.NONE }, ent, { kind: "sales" }],
    ["live subscription changes in the portal", { plan: "team", state: BillingState.ACTIVE }, { ...ent, selfServe: true }, { kind: "portal" }],
    ["downgrade to free is a cancel in the portal", { plan: "team", state: BillingState.PAST_DUE }, free, { kind: "portal" }],
    ["canceled buys again", { plan: "free", state: BillingState.CANCELED }, team, { kind: "checkout", plan: "team" }],
  ])("%s", (_, b, p, want) => {
    expect(planAction(b, p)).toEqual(want);
  });
});

describe("table cells", () => {
  it("prices and allowances", () => {
    expect(planPrice({ seatUnitAmount: 0n, currency: "usd", interval: "" })).toBe("Free");
    expect(planPrice({ seatUnitAmount: 1500n, currency: "usd", interval: "month" })).toMatch(/15\.00 per seat \/ month/);
    expect(includedRequests({ includedRequests: -1n, overageUnitAmount: 0n, currency: "usd" })).toBe("Unlimited");
    expect(includedRequests({ includedRequests: 1000000n, overageUnitAmount: 10n, currency: "usd" })).toMatch(/^1,000,000 a month, then .*0\.10 per 1,000$/);
  });
  it("seats", () => {
    expect(seatsLine({ seatsUsed: 1n, seatsPaid: 0n, state: BillingState.NONE })).toBe("1 member");
    expect(seatsLine({ seatsUsed: 3n, seatsPaid: 5n, state: BillingState.ACTIVE })).toBe("3 of 5 paid seats used");
    expect(hasLiveSubscription({ state: BillingState.CANCELED })).toBe(false);
  });
});

describe("return from Checkout and billing off", () => {
  it("notices", async () => {
    const { checkoutNotice, billingOff } = await import("./billing");
    expect(checkoutNotice(new URLSearchParams("checkout=success"))).toContain("Payment received");
    expect(checkoutNotice(new URLSearchParams("checkout=canceled"))).toContain("nothing was charged");
    expect(checkoutNotice(new URLSearchParams(""))).toBeUndefined();
    expect(billingOff({ code: 12 })).toBe(true);
    expect(billingOff({ code: 14 })).toBe(false);
    expect(billingOff(undefined)).toBe(false);
  });
});
