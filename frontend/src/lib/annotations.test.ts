import { describe, expect, it } from "vitest";
import { sourceLinks } from "./annotations";

describe("sourceLinks", () => {
  it("takes view and edit from the managed-by location", () => {
    expect(
      sourceLinks({ "backstage.io/managed-by-location": "url:https://github.com/acme/pay/blob/main/catalog-info.yaml" }),
    ).toEqual({
      view: "https://github.com/acme/pay/blob/main/catalog-info.yaml",
      edit: "https://github.com/acme/pay/edit/main/catalog-info.yaml",
    });
  });
  it("prefers explicit URLs and refuses unsafe ones", () => {
    expect(sourceLinks({ "backstage.io/view-url": "https://x.io/v", "backstage.io/edit-url": "javascript:alert(1)" })).toEqual({
      view: "https://x.io/v",
    });
    expect(sourceLinks({ "backstage.io/managed-by-location": "file:/tmp/x.yaml" })).toEqual({});
  });
});
