// The portal's analytics client: Backstage-shaped events queued in memory and sent through
// InsightsService.Track in batches, every few seconds and when the page is hidden, so a page
// view costs no request of its own. Each event gets a random id when it is captured; a batch
// that fails is kept and re-sent with the same ids, which the server counts once.
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import {
  TrackContextSchema,
  TrackEventSchema,
  type TrackEvent,
  type TrackRequest,
} from "../gen/atrium/insights/v1/insights_pb";

export interface CaptureInput {
  action: "navigate" | "search" | "create" | "click" | "discover" | "view";
  subject?: string;
  value?: number;
  attributes?: Record<string, string>;
  context?: { pluginId?: string; routeRef?: string; extension?: string; entityRef?: string };
}

export interface TrackerOptions {
  send: (req: Pick<TrackRequest, "events">) => Promise<unknown>;
  // How often queued events are sent (default 5 s).
  intervalMs?: number;
  // Events kept while the server cannot be reached; the oldest go first (default 1,000).
  maxQueued?: number;
  now?: () => number;
  newId?: () => string;
  // The session events are captured in ("tenant/email"; "" signed out). Events are sent
  // only in the session they were captured in: after a sign-out (here or in another tab)
  // the queue is dropped rather than sent without a token, which the gateway answered with a
  // 401 (a console error after logout in the browser test), or under the next member's.
  session?: () => string;
}

// Track takes at most 100 events per call.
export const maxBatch = 100;

export class Tracker {
  private queue: TrackEvent[] = [];
  // The session of the queued events.
  private owner = "";
  private sending = false;
  private held = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  dropped = 0;

  constructor(private readonly opts: TrackerOptions) {}

  capture(e: CaptureInput) {
    const who = this.opts.session?.() ?? "";
    if (this.opts.session && who === "") return; // nobody to attribute it to
    if (who !== this.owner) {
      this.queue = [];
      this.owner = who;
    }
    const now = this.opts.now?.() ?? Date.now();
    const id = this.opts.newId?.() ?? crypto.randomUUID();
    this.queue.push(
      create(TrackEventSchema, {
        id,
        time: timestampFromMs(now),
        action: e.action,
        subject: (e.subject ?? "").slice(0, 512),
        value: e.value,
        attributes: e.attributes ?? {},
        context: create(TrackContextSchema, e.context ?? {}),
      }),
    );
    const max = this.opts.maxQueued ?? 1000;
    if (this.queue.length > max) {
      this.dropped += this.queue.length - max;
      this.queue.splice(0, this.queue.length - max);
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  // hold stops sending while Track would refuse every batch (the organization is being
  // deleted: FailedPrecondition, which the browser logs as an error each time); the events
  // stay queued and go out on the first flush after hold(false), when the deletion is
  // cancelled.
  hold(on: boolean) {
    this.held = on;
  }

  // flush sends everything queued, a batch at a time; a failed batch stays queued.
  async flush(): Promise<void> {
    if (this.sending || this.held) return;
    if (this.opts.session && this.opts.session() !== this.owner) {
      this.queue = []; // the session they belong to has ended
      return;
    }
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.slice(0, maxBatch);
        try {
          await this.opts.send({ events: batch });
        } catch {
          return; // kept for the next flush, same ids
        }
        this.queue.splice(0, batch.length);
      }
    } finally {
      this.sending = false;
    }
  }

  // drain takes what is queued (at most one batch) for a last send by the caller, which
  // holds the ending session's token.
  drain(): TrackEvent[] {
    if (this.held) {
      this.queue = []; // nothing an organization being deleted would take
      return [];
    }
    const batch = this.queue.slice(-maxBatch);
    this.queue = [];
    return batch;
  }

  // start flushes on a timer and when the page is hidden (the last chance before unload).
  start(target: Pick<Document, "addEventListener" | "visibilityState"> = document) {
    this.timer = setInterval(() => void this.flush(), this.opts.intervalMs ?? 5000);
    target.addEventListener("visibilitychange", () => {
      if (target.visibilityState === "hidden") void this.flush();
    });
    window.addEventListener("pagehide", () => void this.flush());
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
  }
}
