import { create } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import {
  PluginSchema,
  PluginState,
  TenantPluginSchema,
  UnlockSchema,
} from "../gen/atrium/entitlements/v1/entitlements_pb";
import { configErrors, sortPlugins, unlockSteps, usageOf } from "./plugins";

function tp(id: string, name: string, state: PluginState) {
  return create(TenantPluginSchema, { plugin: create(PluginSchema, { id, name }), state });
}

describe("sortPlugins", () => {
  it("installed first, then available, then locked, by name within", () => {
    const got = sortPlugins([
      tp("assistant", "Assistant", PluginState.LOCKED),
      tp("search", "Search", PluginState.INSTALLED),
      tp("insights", "Insights", PluginState.AVAILABLE),
      tp("catalog", "Software Catalog", PluginState.INSTALLED),
      tp("flags", "Feature Flags", PluginState.LOCKED),
    ]).map((p) => p.plugin?.id);
    expect(got).toEqual(["search", "catalog", "insights", "assistant", "flags"]);
  });
});

describe("unlockSteps", () => {
  it.each([
    [{ action: "upgrade_plan", plan: "team" }, ["Upgrade to team"]],
    [{ action: "upgrade_plan", plan: "enterprise", trialAvailable: true }, ["Upgrade to enterprise", "Request a trial"]],
    [{ action: "install_dependencies", plugins: ["catalog-sources"] }, ["Install catalog-sources first"]],
    [{ action: "contact_sales" }, ["Contact sales"]],
    [{ action: "install" }, []],
  ])("%j", (u, want) => {
    expect(unlockSteps(create(UnlockSchema, u)).map((s) => s.action)).toEqual(want);
  });
  it("nothing to unlock", () => expect(unlockSteps(undefined)).toEqual([]));
});

describe("configErrors", () => {
  const v = (field: string, description: string) => ({ field, description, reason: "" });
  it("files each violation at its JSON pointer", () => {
    const { schema, other } = configErrors([
      v("config/retention_days", "must be <= 730"),
      v("config/checks/0/id", "does not match pattern"),
      v("config/checks/0/id", "is too long"),
      v("config/a~1b", "escaped"),
      v("config", "missing property checks"),
      v("plugin", "unknown plugin"),
    ]);
    expect(schema).toEqual({
      __errors: ["missing property checks"],
      retention_days: { __errors: ["must be <= 730"] },
      checks: { 0: { id: { __errors: ["does not match pattern", "is too long"] } } },
      "a/b": { __errors: ["escaped"] },
    });
    expect(other.map((o) => o.field)).toEqual(["plugin"]);
  });
  it("a field that only starts with config is not config", () => {
    expect(configErrors([v("configuration", "x")]).other).toHaveLength(1);
  });
});

describe("usageOf", () => {
  const l = (name: string, used: number, limit: number, usedKnown = true) => ({ name, used: BigInt(used), limit: BigInt(limit), usedKnown });
  it("levels and next steps", () => {
    const got = usageOf([
      l("seats", 2, 5),
      l("catalog_entities", 8_500, 10_000),
      l("api_requests_per_minute", 600, 600),
      l("usage_events_per_month", 10, -1),
      l("insights_retention_days", 0, 30),
    ]);
    expect(got.map((u) => [u.name, u.level, u.limit])).toEqual([
      ["seats", "ok", 5],
      ["catalog_entities", "near", 10_000],
      ["api_requests_per_minute", "full", 600],
      ["usage_events_per_month", "ok", undefined],
    ]);
    expect(got[0].next).toBeUndefined();
    expect(got[1].next).toMatch(/upgrade the plan/);
    expect(got[2].fraction).toBe(1);
  });
  it("a limit of 0 is full at once", () => {
    expect(usageOf([l("seats", 0, 0)])[0].level).toBe("full");
  });
});
