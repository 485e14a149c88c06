import { createClient } from "@connectrpc/connect";
import { BillingService } from "./gen/atrium/billing/v1/billing_pb";
import { transport } from "./api";

// Imported only by lazily loaded modules (the Billing page, the admins' billing banner).
export const billingClient = createClient(BillingService, transport);
