import { describe, expect, it } from "vitest";
import { archiveFileName, collectArchive, formatBytes, progressText, type ArchiveProgress } from "./archive";

function piece(p: Partial<{ service: string; records: bigint; chunk: Uint8Array; manifest: string }>) {
  return { piece: { service: "", records: 0n, chunk: new Uint8Array(), manifest: "", ...p } };
}

async function* stream(items: ReturnType<typeof piece>[]) {
  for (const i of items) yield i;
}

describe("collectArchive", () => {
  it("collects the bytes and reports reading, then writing", async () => {
    const seen: ArchiveProgress[] = [];
    const r = await collectArchive(
      stream([
        piece({ service: "tenancy", records: 3n }),
        piece({ service: "catalog", records: 1203n }),
        piece({ chunk: new Uint8Array([1, 2, 3]) }),
        piece({ chunk: new Uint8Array([4, 5]) }),
        piece({ records: 1210n, manifest: '{"parts":[{"service":"catalog","records":1200}]}' }),
      ]),
      (p) => seen.push(p),
    );
    expect(r.bytes).toBe(5);
    expect(r.records).toBe(1210);
    expect(r.parts.map((p) => Array.from(p))).toEqual([[1, 2, 3], [4, 5]]);
    expect(r.manifest.parts?.[0]).toEqual({ service: "catalog", records: 1200 });
    expect(seen.map((p) => p.phase)).toEqual(["reading", "reading", "writing", "writing"]);
    expect(seen[1]).toEqual({ phase: "reading", service: "catalog", records: 1203, bytes: 0 });
    expect(seen[3].bytes).toBe(5);
  });

  it("refuses a stream that ends before the manifest", async () => {
    await expect(collectArchive(stream([piece({ chunk: new Uint8Array([1]) })]), () => {})).rejects.toThrow(
      "ended before the archive was complete",
    );
  });
});

describe("labels", () => {
  it("says what the export is doing", () => {
    expect(progressText(undefined)).toBe("Starting the export…");
    expect(progressText({ phase: "reading", service: "catalog", records: 12345, bytes: 0 })).toBe(
      "Reading catalog… 12,345 records",
    );
    expect(progressText({ phase: "writing", service: "", records: 0, bytes: 3 * 1024 * 1024 })).toBe(
      "Downloading… 3.0 MB",
    );
    expect(formatBytes(512)).toBe("512 B");
    expect(archiveFileName("acme", new Date("2026-12-02T10:00:00Z"))).toBe("acme-2026-12-02.atrium.tar.gz");
  });
});
