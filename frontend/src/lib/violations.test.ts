import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { base64Encode } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorFromJson } from "@connectrpc/connect/protocol-connect";
import { describe, expect, it } from "vitest";
import {
  importProblem,
  decodeBadRequest,
  errorMessage,
  fieldViolations,
  formErrorMessage,
  violationsByDocument,
  violationsByField,
  type FieldViolation,
} from "./violations";

// encodeBadRequest writes a google.rpc.BadRequest as a server would.
function encodeBadRequest(vs: Partial<FieldViolation>[]): Uint8Array {
  const w = new BinaryWriter();
  for (const v of vs) {
    w.uint32((1 << 3) | 2).fork();
    if (v.field) w.uint32((1 << 3) | 2).string(v.field);
    if (v.description) w.uint32((2 << 3) | 2).string(v.description);
    if (v.reason) w.uint32((3 << 3) | 2).string(v.reason);
    w.join();
  }
  return w.finish();
}

const fallback = new ConnectError("fallback", Code.Unknown);

describe("decodeBadRequest", () => {
  it("reads every violation and skips unknown fields", () => {
    const w = new BinaryWriter();
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).string("slug");
    w.uint32((9 << 3) | 0).int32(7); // unknown varint field
    w.uint32((2 << 3) | 2).string("too short");
    w.join();
    w.uint32((5 << 3) | 2).string("ignored top-level field");
    w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string("admin_email").join();
    expect(decodeBadRequest(w.finish())).toEqual([
      { field: "slug", description: "too short", reason: "" },
      { field: "admin_email", description: "", reason: "" },
    ]);
  });

  it("returns nothing for an empty message", () => {
    expect(decodeBadRequest(new Uint8Array())).toEqual([]);
  });

  it("throws on truncated input", () => {
    const bytes = encodeBadRequest([{ field: "slug", description: "bad" }]);
    expect(() => decodeBadRequest(bytes.subarray(0, bytes.length - 2))).toThrow();
  });
});

describe("fieldViolations", () => {
  it("decodes a Connect JSON error body as connect-go sends it", () => {
    const value = base64Encode(
      encodeBadRequest([
        { field: "slug", description: "must be 3 to 40 characters", reason: "SLUG_LENGTH" },
        { field: "admin_password", description: "too weak" },
      ]),
      "std_raw",
    );
    const err = errorFromJson(
      {
        code: "invalid_argument",
        message: "invalid sign-up",
        details: [
          { type: "google.rpc.ErrorInfo", value: "" },
          { type: "google.rpc.BadRequest", value, debug: { fieldViolations: [] } },
        ],
      },
      undefined,
      fallback,
    );
    expect(err.code).toBe(Code.InvalidArgument);
    expect(fieldViolations(err)).toEqual([
      { field: "slug", description: "must be 3 to 40 characters", reason: "SLUG_LENGTH" },
      { field: "admin_password", description: "too weak", reason: "" },
    ]);
  });

  it("accepts the type URL form and ignores undecodable details", () => {
    const good = encodeBadRequest([{ field: "email", description: "bad email" }]);
    const err = new ConnectError("x", Code.InvalidArgument);
    err.details = [
      { type: "type.googleapis.com/google.rpc.BadRequest", value: good },
      { type: "google.rpc.BadRequest", value: new Uint8Array([0x0a, 0x05, 0x01]) },
    ];
    expect(fieldViolations(err)).toEqual([{ field: "email", description: "bad email", reason: "" }]);
  });

  it("returns nothing for other errors", () => {
    expect(fieldViolations(new Error("boom"))).toEqual([]);
    expect(fieldViolations(undefined)).toEqual([]);
    expect(fieldViolations(new ConnectError("nope", Code.NotFound))).toEqual([]);
  });
});

describe("violationsByField", () => {
  const fields = ["orgName", "slug", "adminEmail", "adminPassword"] as const;
  it.each([
    ["admin_email", "adminEmail"],
    ["adminEmail", "adminEmail"],
    ["ADMIN_EMAIL", "adminEmail"],
    ["request.org_name", "orgName"],
    ["slug", "slug"],
  ] as const)("maps %s to %s", (field, key) => {
    const res = violationsByField([{ field, description: "bad", reason: "" }], fields);
    expect(res.byField).toEqual({ [key]: ["bad"] });
    expect(res.other).toEqual([]);
  });

  it("keeps unknown fields apart and collects several per field", () => {
    const res = violationsByField(
      [
        { field: "slug", description: "too short", reason: "" },
        { field: "slug", description: "", reason: "RESERVED" },
        { field: "", description: "tenant limit reached", reason: "" },
        { field: "plan", description: "unknown plan", reason: "" },
      ],
      fields,
    );
    expect(res.byField).toEqual({ slug: ["too short", "RESERVED"] });
    expect(res.other.map((v) => v.description)).toEqual(["tenant limit reached", "unknown plan"]);
  });
});

describe("violationsByDocument", () => {
  it("groups by document index in order and keeps batch violations apart", () => {
    const res = violationsByDocument([
      { field: "documents[10].spec.owner", description: "required", reason: "" },
      { field: "documents[2].metadata.name", description: "bad name", reason: "" },
      { field: "documents[2]", description: "duplicate ref", reason: "" },
      { field: "documents", description: "more than 1000 entities", reason: "" },
      { field: "documents[x].kind", description: "odd", reason: "" },
    ]);
    expect([...res.documents.keys()]).toEqual([2, 10]);
    expect(res.documents.get(2)).toEqual([
      { path: "metadata.name", description: "bad name" },
      { path: "", description: "duplicate ref" },
    ]);
    expect(res.documents.get(10)).toEqual([{ path: "spec.owner", description: "required" }]);
    expect(res.batch.map((v) => v.field)).toEqual(["documents", "documents[x].kind"]);
  });
});

describe("errorMessage", () => {
  it("prefers the server's message and names the code otherwise", () => {
    expect(errorMessage(new ConnectError("slug taken", Code.AlreadyExists))).toBe("slug taken");
    expect(errorMessage(new ConnectError("", Code.PermissionDenied))).toBe("PermissionDenied");
    expect(errorMessage(new ConnectError("fetch failed", Code.Unavailable))).toMatch(/not reachable/);
    expect(errorMessage(new Error("plain"))).toBe("plain");
  });
});

describe("formErrorMessage", () => {
  function failed(vs: Partial<FieldViolation>[], code = Code.InvalidArgument, msg = "invalid request"): ConnectError {
    const err = new ConnectError(msg, code);
    err.details = [{ type: "google.rpc.BadRequest", value: encodeBadRequest(vs) }];
    return err;
  }
  const fields = ["slug", "adminEmail"] as const;
  const message = (err: unknown) => formErrorMessage(err, violationsByField(fieldViolations(err), fields));

  it("points at the fields when every violation sits next to one", () => {
    const err = failed([
      { field: "slug", description: "is reserved" },
      { field: "admin_email", description: "is not a valid email address" },
    ]);
    expect(message(err)).toBe("Please correct the fields marked below.");
  });

  it("keeps the server's message otherwise", () => {
    // A violation no field of the form claims: the banner lists it under the message.
    expect(message(failed([{ field: "slug" }, { field: "Atrium-Tenant", description: "names another tenant" }]))).toBe(
      "invalid request",
    );
    expect(message(failed([]))).toBe("invalid request");
    // A conflict whose field already says it ("is already taken" under Slug) is not said
    // twice; a conflict no field shows keeps its message.
    expect(message(failed([{ field: "slug", description: "is already taken" }], Code.AlreadyExists, "slug is already taken"))).toBe(
      "Please correct the fields marked below.",
    );
    expect(message(failed([], Code.AlreadyExists, "an account with this email exists"))).toBe("an account with this email exists");
    expect(message(new Error("boom"))).toBe("boom");
  });
});

describe("importProblem", () => {
  it("drops the internal field name and keeps the line", () => {
    expect(importProblem("yaml_documents[0] line 7: did not find expected key")).toEqual({
      line: 7,
      message: "did not find expected key",
    });
    expect(importProblem("yaml_documents[2]: duplicate key")).toEqual({ message: "duplicate key" });
    expect(importProblem("must be set")).toEqual({ message: "must be set" });
  });
});

describe("errorMessage offline", () => {
  it("says offline instead of a raw 'Failed to fetch'", () => {
    const e = new ConnectError("Failed to fetch", Code.Unknown, undefined, undefined, new TypeError("Failed to fetch"));
    expect(errorMessage(e)).toMatch(/offline/);
    expect(errorMessage(new TypeError("Failed to fetch"))).toMatch(/offline/);
    expect(errorMessage(new ConnectError("nope", Code.NotFound))).toBe("nope");
  });
});

describe("formErrorMessage AlreadyExists", () => {
  it("does not repeat a conflict the field already shows", () => {
    const e = new ConnectError("slug is already taken", Code.AlreadyExists);
    const v = { byField: { slug: ["is already taken"] }, other: [] };
    expect(formErrorMessage(e, v)).toBe("Please correct the fields marked below.");
  });
});
