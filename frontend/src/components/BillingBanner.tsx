import { billingClient } from "../billingApi";
import { useLoad } from "../hooks";
import { billingBanner } from "../lib/billing";

// BillingBanner is the admins' app-wide notice that a payment is past due (with the days
// left before the organization becomes read-only) or that it is suspended. It says nothing
// when billing is off or cannot be read: the Billing page shows those.
export default function BillingBanner({ tenant }: { tenant: string }) {
  const { data } = useLoad(() => billingClient.getBilling({}), tenant);
  const b = data?.billing && billingBanner(data.billing);
  if (!b) return null;
  return (
    <div className={b.tone === "danger" ? "error app-banner" : "warning app-banner"} role="alert">
      {b.text} <a href="#/billing">Go to Billing</a>
    </div>
  );
}
