// The tenant archive download (organization settings): TenantService.ExportTenant streams
// progress while the services are read, then the archive's bytes, then its manifest. These
// helpers turn the stream into one Blob and say what is happening, apart from React.

export interface ArchivePieceLike {
  service: string;
  records: bigint;
  chunk: Uint8Array;
  manifest: string;
}

export interface ArchiveProgress {
  // "reading" while the services are read (service names the current one), "writing" while
  // the archive's bytes arrive.
  phase: "reading" | "writing";
  service: string;
  records: number;
  bytes: number;
}

export interface ArchiveResult {
  parts: Uint8Array[];
  bytes: number;
  records: number;
  manifest: { parts?: { service: string; records: number }[] };
}

// collectArchive reads the stream to its end. It fails if the stream ends before the
// manifest, the mark of a complete archive, so a cut download is never offered as a file.
export async function collectArchive(
  stream: AsyncIterable<{ piece?: ArchivePieceLike }>,
  onProgress: (p: ArchiveProgress) => void,
): Promise<ArchiveResult> {
  const parts: Uint8Array[] = [];
  let bytes = 0;
  let records = 0;
  let service = "";
  for await (const msg of stream) {
    const p = msg.piece;
    if (!p) continue;
    if (p.chunk.length > 0) {
      parts.push(p.chunk);
      bytes += p.chunk.length;
      onProgress({ phase: "writing", service, records, bytes });
      continue;
    }
    if (p.manifest) {
      return { parts, bytes, records: Number(p.records), manifest: JSON.parse(p.manifest) };
    }
    service = p.service;
    records = Number(p.records);
    onProgress({ phase: "reading", service, records, bytes });
  }
  throw new Error("The export ended before the archive was complete. Try again.");
}

// progressText is the button's label while an export runs.
export function progressText(p: ArchiveProgress | undefined): string {
  if (!p) return "Starting the export…";
  if (p.phase === "reading") return `Reading ${p.service}… ${p.records.toLocaleString("en")} records`;
  return `Downloading… ${formatBytes(p.bytes)}`;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MB`;
}

// archiveFileName is what the download is saved as.
export function archiveFileName(slug: string, now: Date): string {
  const d = now.toISOString().slice(0, 10);
  return `${slug || "organization"}-${d}.atrium.tar.gz`;
}
